"""Decoded-video windows for end-to-end temporal action detection (:mod:`tasks.tad.end_to_end`).

A video of ``n`` frames is sampled every ``frame_interval`` frames (``s``): sampled frame ``j`` is frame ``j * s``
(``P = ceil(n / s)`` positions). The dataset reuses :class:`tasks.tad.dataset.TADFeatureDataset` on these
positions (annotations, classes, bad-input checks, ``RandomTruncateFeatures`` for the training crop): a
sample's ``feats`` is the ``(P, 1)`` array of absolute positions and ``feat_grid`` the *frame grid*
``FeatureGrid(fps, stride=s, clip_len=s, offset=0)`` (position ``j`` stands for frame ``j * s``), shifted with a
crop. :class:`DecodeTADFrames` then decodes exactly those frames; :class:`PackTADFrames` packs them.

Training (AdaTAD): a random window of ``num_frames`` positions that keeps >= ``trunc_thresh`` of a segment
(``RandomTruncateFeatures(max_seq_len=num_frames, trunc_thresh=0.75, crop_ratio=(0.9, 1.0))``). Testing: the
whole video in one window (the encoder sees every chunk; OpenTAD instead cuts overlapping windows and merges
their detections).

Bad input (:mod:`tasks.datasets.policy`): at build time a video file that is missing, cut short (container
check) or that decord cannot open or finds empty is an annotation problem naming the JSON, the video and the
file (``on_error='skip'`` drops and counts it); a decode failure later is skipped and counted in training and
raises in testing.
"""
import copy
import math
import os.path as osp
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from backbones.registry import DATASETS, TRANSFORMS
from tasks.datasets.decoding import check_container

from .dataset import TADFeatureDataset
from .features import _get_batch, open_video

__all__ = ['TADVideoDataset', 'THUMOS14VideoDataset', 'ToyTADVideoDataset', 'DecodeTADFrames', 'PackTADFrames']


@DATASETS.register_module()
class TADVideoDataset(TADFeatureDataset):
    """Videos of an ActivityNet-format JSON as windows of sampled frames (module docstring).

    Args:
        ann_file (str): ActivityNet-format JSON.
        video_root (str): Folder of the videos.
        subset (str | Sequence[str]): Subset(s) to use.
        frame_interval (int): Sample every ``frame_interval``-th frame (AdaTAD THUMOS14: 4 at 768 frames x 160 px,
            2 at 1536 x 224).
        video_name (str): File name pattern (``'{video}.mp4'``).
        pipeline (list): ``RandomTruncateFeatures`` (training), ``DecodeTADFrames``, ``PackTADFrames``.
        **kwargs: :class:`TADFeatureDataset` arguments (``classes``, ``train_subset``, ``exclude_labels``,
            ``on_error``, ``test_mode``, ...); ``feat_root``, ``feat_name``, ``grid`` are set from the above.
    """

    def __init__(self, ann_file: str, video_root: str, subset: Union[str, Sequence[str]], frame_interval: int = 1,
                 video_name: str = '{video}.mp4', pipeline: Sequence = (), **kwargs):
        if isinstance(frame_interval, bool) or not isinstance(frame_interval, int) or frame_interval < 1:
            raise ValueError(f'{type(self).__name__}: frame_interval must be an int >= 1, got {frame_interval!r}')
        for key in ('feat_root', 'feat_name', 'grid', 'grid_file', 'feat_dim', 'resize_length'):
            if kwargs.get(key) is not None:
                raise ValueError(f'{type(self).__name__}: {key} does not apply to videos')
            kwargs.pop(key, None)
        self.frame_interval = frame_interval
        self._video_meta = {}
        self._vid_of_path = {}
        super().__init__(ann_file=ann_file, feat_root=video_root, subset=subset, pipeline=pipeline,
                         feat_name=video_name, grid=dict(stride=frame_interval, clip_len=frame_interval, offset=0.),
                         grid_file=None, **kwargs)

    @property
    def video_root(self) -> str:
        return self.feat_root

    def feat_path(self, video: str) -> str:
        path = super().feat_path(video)
        self._vid_of_path[path] = video
        return path

    def _feature_problem(self, path: str) -> Optional[tuple]:
        """``(kind, detail)`` when the video is unusable; else ``(None, number of sampled positions)``."""
        if not osp.isfile(path):
            return 'missing video', f'video file {path} does not exist'
        try:
            check_container(path)
            _, total, fps = open_video(path)
        except Exception as err:  # noqa: BLE001  (any unreadable file is a data problem here)
            return 'unreadable video', f'video file {path}: {type(err).__name__}: {err}'
        self._video_meta[path] = (total, fps)
        vid = self._vid_of_path.get(path)
        if vid is not None:
            self.video_fps.setdefault(vid, fps)  # the JSON's fps, when given, wins (TADFeatureDataset)
        return None, math.ceil(total / self.frame_interval)

    def load_data_list(self):
        data_list = super().load_data_list()
        for info in data_list:
            info['total_frames'], info['video_fps'] = self._video_meta[info['feat_path']]
            info['frame_interval'] = self.frame_interval
        return data_list

    def load_features(self, info: dict) -> np.ndarray:
        """``(P, 1)`` absolute sampled positions of the video (cropped by the pipeline, decoded by
        :class:`DecodeTADFrames`)."""
        return np.arange(info['num_feats'], dtype=np.float32)[:, None]

    def prepare_data(self, idx: int) -> Any:
        info = copy.copy(self.get_data_info(idx))
        info['feats'] = self.load_features(info)
        try:
            out = self.pipeline(info)
        except Exception as err:  # noqa: BLE001  (the policy re-raises programming errors)
            self._policy.failed(err, info['feat_path'], self.test_mode)
            return None
        self._policy.ok()
        return out


@DATASETS.register_module()
class THUMOS14VideoDataset(TADVideoDataset):
    """THUMOS14 videos: trained on ``'validation'``, tested on ``'test'``; ``'Ambiguous'`` dropped."""

    def __init__(self, *args, exclude_labels: Sequence[str] = ('Ambiguous',),
                 train_subset: Union[str, Sequence[str], None] = 'validation', **kwargs):
        super().__init__(*args, exclude_labels=exclude_labels, train_subset=train_subset, **kwargs)


@DATASETS.register_module()
class ToyTADVideoDataset(TADVideoDataset):
    """The toy TAD set's videos (:mod:`tasks.toy_data.tad`, generated when missing).

    Args:
        toy (dict): ``root`` and :func:`tasks.toy_data.tad.ensure_tad` parameters.
        **kwargs: :class:`TADVideoDataset` arguments; ``ann_file`` and ``video_root`` default to the toy set's.
    """

    def __init__(self, toy: dict, **kwargs):
        from tasks.toy_data.tad import ensure_tad, toy_tad_files
        if not isinstance(toy, dict) or 'root' not in toy:
            raise ValueError(f'ToyTADVideoDataset needs toy=dict(root=..., ...), got {toy!r}')
        toy = dict(toy)
        files = toy_tad_files(ensure_tad(toy.pop('root'), **toy))
        kwargs.setdefault('ann_file', files['ann_file'])
        kwargs.setdefault('video_root', files['videos'])
        super().__init__(**kwargs)


def _size2(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    size = (size, size) if isinstance(size, int) else tuple(size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f'size must be an int or (H, W), got {size}')
    return size


@TRANSFORMS.register_module()
class DecodeTADFrames(BaseTransform):
    """Decode the sampled frames of a window: ``feats`` (absolute positions) -> ``imgs`` uint8 ``(3, T, H, W)``.

    Frames are resized to ``size`` ignoring the aspect ratio (bilinear, as the feature extractor's
    :class:`tasks.tad.features.ClipPreprocessor`); ``flip_ratio`` flips the whole window horizontally.

    Args:
        size (int | tuple): Output ``(H, W)``.
        flip_ratio (float): Probability of a horizontal flip (training augmentation).
        num_threads (int): decord threads.
    """

    def __init__(self, size: Union[int, Sequence[int]], flip_ratio: float = 0., num_threads: int = 1):
        self.size, self.flip_ratio, self.num_threads = _size2(size), float(flip_ratio), num_threads

    def transform(self, results: dict) -> dict:
        path = results['feat_path']
        pos = np.asarray(results['feats'])[:, 0].astype(np.int64)
        total, step = int(results['total_frames']), int(results['frame_interval'])
        frames = np.minimum(pos * step, total - 1)
        reader, n, _ = open_video(path, self.num_threads)
        if n != total:
            raise RuntimeError(f'{path}: {n} frames now, {total} when the dataset was built')
        imgs = torch.from_numpy(_get_batch(reader, frames.tolist(), path))              # (T, H0, W0, 3)
        x = imgs.permute(3, 0, 1, 2).float()                                              # (3, T, H0, W0)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x.transpose(0, 1), size=self.size, mode='bilinear', align_corners=False)
            x = x.transpose(0, 1)
        x = x.round_().clamp_(0, 255).to(torch.uint8)
        if self.flip_ratio > 0 and np.random.rand() < self.flip_ratio:
            x = x.flip(-1)
        results['imgs'] = x.contiguous()
        results['num_frames'] = len(pos)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size}, flip_ratio={self.flip_ratio})'


@TRANSFORMS.register_module()
class PackTADFrames(BaseTransform):
    """``inputs``: uint8 ``(3, T, H, W)``; ``data_samples``: metainfo ``video_name``, ``duration``, ``frame_grid``
    (the window's frame grid: sampled frame ``j`` of the window stands for ``frame_grid.index_to_frame(j)``),
    ``num_frames``, ``fps`` (+ ``meta_keys``), and ``gt_segments`` (seconds) / ``gt_labels`` when present."""

    def __init__(self, meta_keys: Sequence[str] = ('trunc_start',)):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        meta = dict(video_name=results['video_name'], duration=results.get('duration'),
                    frame_grid=results['feat_grid'], num_frames=int(results['num_frames']), fps=results['fps'])
        meta.update({k: results[k] for k in self.meta_keys if k in results})
        sample = BaseDataElement(metainfo=meta)
        if 'gt_segments' in results:
            sample.gt_segments = torch.as_tensor(np.asarray(results['gt_segments'], np.float32).reshape(-1, 2))
            sample.gt_labels = torch.as_tensor(np.asarray(results['gt_labels'], np.int64).reshape(-1))
        return dict(inputs=results['imgs'], data_samples=sample)
