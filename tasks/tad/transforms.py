"""Pipeline transforms of the TAD feature datasets (:mod:`tasks.tad.dataset`).

A sample (``results`` dict) holds ``feats`` ``(T, C)`` float32 numpy features, ``feat_grid``
(:class:`tasks.tad.grid.FeatureGrid` of these features), ``video_name``, ``duration`` (seconds), ``num_feats`` and,
with ground truth, ``gt_segments`` ``(N, 2)`` seconds and ``gt_labels`` ``(N,)`` class indices.

* :class:`RandomTruncateFeatures`: ActionFormer's training-time random crop of the feature sequence (cheap: a
  slice; the grid's offset moves with the crop so ground truth and predictions stay in seconds).
* :class:`PackTADInputs`: ``inputs`` ``(C, T)`` tensor + a data sample with what :class:`tasks.tad.ActionFormer`
  and :class:`tasks.tad.TADmAP` read.
"""
import dataclasses
from typing import Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from backbones.registry import TRANSFORMS

from .grid import FeatureGrid

__all__ = ['RandomTruncateFeatures', 'PackTADInputs', 'shift_grid']


def shift_grid(grid: FeatureGrid, start: int) -> FeatureGrid:
    """The grid of ``feats[start:]``: feature ``i`` of the slice is feature ``start + i`` of the video."""
    return dataclasses.replace(grid, offset=grid.offset + start * grid.stride)


@TRANSFORMS.register_module()
class RandomTruncateFeatures(BaseTransform):
    """Random crop of a training feature sequence, as ActionFormer's ``truncate_feats``.

    A sequence longer than ``max_seq_len`` is cut to ``max_seq_len`` features; with ``crop_ratio`` a shorter one
    is cut to a random ``[lo, hi] * T`` features. Up to ``max_trials`` random windows are drawn until one keeps
    at least one segment of which ``>= trunc_thresh`` lies inside; segments kept are those with that fraction
    inside, clipped to the window. Ground truth stays in seconds: the crop shifts the grid's offset.

    Args:
        max_seq_len (int): Longest sequence (THUMOS14: 2304).
        trunc_thresh (float): Fraction of a segment that must lie in the window to keep it (0.5).
        crop_ratio (Sequence[float], optional): ``(lo, hi)`` fraction of a short sequence to keep (``(0.9,
            1.0)``); None leaves short sequences as they are.
        max_trials (int): Windows to try.
        seed (int, optional): For tests; default draws from numpy's global generator (reseeded per worker and
            epoch by MMEngine).
    """

    def __init__(self, max_seq_len: int, trunc_thresh: float = 0.5, crop_ratio: Optional[Sequence[float]] = None,
                 max_trials: int = 200, seed: Optional[int] = None):
        if max_seq_len < 1:
            raise ValueError(f'RandomTruncateFeatures: max_seq_len must be >= 1, got {max_seq_len}')
        if crop_ratio is not None and not (len(crop_ratio) == 2 and 0 < crop_ratio[0] <= crop_ratio[1] <= 1):
            raise ValueError(f'RandomTruncateFeatures: crop_ratio must be (lo, hi) with 0 < lo <= hi <= 1, got '
                             f'{crop_ratio}')
        self.max_seq_len, self.trunc_thresh, self.max_trials = max_seq_len, trunc_thresh, max_trials
        self.crop_ratio = None if crop_ratio is None else tuple(crop_ratio)
        self.rng = np.random.default_rng(seed) if seed is not None else np.random

    def _randint(self, lo: int, hi: int) -> int:
        """Uniform integer in ``[lo, hi]``."""
        return int(self.rng.integers(lo, hi + 1)) if hasattr(self.rng, 'integers') else int(
            self.rng.randint(lo, hi + 1))

    def transform(self, results: dict) -> dict:
        feats = results['feats']
        length = int(results.get('num_feats', len(feats)))
        target = self.max_seq_len
        if length <= self.max_seq_len:
            if self.crop_ratio is None:
                return results
            target = self._randint(max(round(self.crop_ratio[0] * length), 1),
                                   min(round(self.crop_ratio[1] * length), length))
            if target == length:
                return results
        grid: FeatureGrid = results['feat_grid']
        segs = np.asarray(results.get('gt_segments', np.zeros((0, 2))), dtype=np.float64).reshape(-1, 2)
        labels = np.asarray(results.get('gt_labels', np.zeros(0)), dtype=np.int64).reshape(-1)
        idx = grid.seconds_to_index(segs)                                       # (N, 2) grid units
        area = np.maximum(idx[:, 1] - idx[:, 0], 1e-8)
        for _ in range(self.max_trials):
            start = self._randint(0, length - target)
            inter = np.clip(np.minimum(idx[:, 1], start + target) - np.maximum(idx[:, 0], start), 0, None)
            keep = inter / area >= self.trunc_thresh
            if keep.any() or len(segs) == 0:
                break
        new_grid = shift_grid(grid, start)
        window = np.clip(idx[keep] - start, 0, target)
        results['feats'] = feats[start:start + target]
        results['num_feats'] = target
        results['feat_grid'] = new_grid
        results['gt_segments'] = new_grid.index_to_seconds(window).reshape(-1, 2).astype(np.float32)
        results['gt_labels'] = labels[keep]
        results['trunc_start'] = start
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_seq_len={self.max_seq_len}, trunc_thresh={self.trunc_thresh}, '
                f'crop_ratio={self.crop_ratio})')


@TRANSFORMS.register_module()
class PackTADInputs(BaseTransform):
    """``inputs``: ``(C, T)`` float32 tensor; ``data_samples``: :class:`mmengine.structures.BaseDataElement`
    with metainfo ``video_name``, ``duration``, ``feat_grid``, ``num_feats`` (+ ``meta_keys``) and, when the
    sample has ground truth, ``gt_segments`` ``(N, 2)`` float32 seconds and ``gt_labels`` ``(N,)`` int64.

    Args:
        meta_keys (Sequence[str]): Extra keys copied into the metainfo when present.
    """

    def __init__(self, meta_keys: Sequence[str] = ('fps', 'trunc_start')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        feats = np.ascontiguousarray(np.asarray(results['feats'], dtype=np.float32).T)
        meta = dict(video_name=results['video_name'], duration=results.get('duration'),
                    feat_grid=results['feat_grid'], num_feats=int(results.get('num_feats', feats.shape[1])))
        meta.update({k: results[k] for k in self.meta_keys if k in results})
        sample = BaseDataElement(metainfo=meta)
        if 'gt_segments' in results:
            sample.gt_segments = torch.as_tensor(np.asarray(results['gt_segments'], np.float32).reshape(-1, 2))
            sample.gt_labels = torch.as_tensor(np.asarray(results['gt_labels'], np.int64).reshape(-1))
        return dict(inputs=torch.from_numpy(feats), data_samples=sample)
