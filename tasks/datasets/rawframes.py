"""Rawframe lists (folders of extracted JPEG frames, mmaction2's ``RawframeDataset`` format) under the bad
input policy of :mod:`tasks.datasets.policy`, and repeated augmentation that reads every frame file once.

A rawframe list has one ``frame_dir total_frames label`` row per video (``frame_dir offset total_frames
label`` with ``with_offset=True``); ``frame_dir`` holds ``img_00001.jpg`` ... (``filename_tmpl``,
``start_index``). Pipelines are the video ones without ``DecordInit`` and with :class:`CheckedRawFrameDecode`
in place of ``DecordDecode`` (``configs/_base_/datasets/kinetics_pipelines.py`` derives them).

Measured failure modes of mmaction2 1.2.0's ``RawFrameDecode`` (cv2 backend, RGB), which
:class:`CheckedRawFrameDecode` turns into errors that name the frame file
-------------------------------------------------------------------------------------------------------
===================================  ======================================================================
frame file                           ``RawFrameDecode``
===================================  ======================================================================
missing                              ``FileNotFoundError`` naming the file (fine)
0 bytes                              ``cv2.error ... (-215:Assertion failed) !buf.empty() in function
                                     'imdecode_'``: no file name
text / truncated JPEG                ``cv2.error ... !_src.empty() in function 'cvtColor'``: no file name
                                     (``imdecode`` gave None; grayscale flow frames stay None silently)
different size from the first frame  accepted; the clip fails later in the pipeline, without a name
2-D ``frame_inds`` (several clips)    ``np.squeeze`` keeps them 2-D: ``TypeError: unhashable type``
===================================  ======================================================================
"""
import copy
from typing import Any, Dict, List, Optional

import mmcv
import numpy as np
from mmaction.datasets import RawframeDataset
from mmaction.datasets.transforms import RawFrameDecode
from mmcv.transforms import BaseTransform
from mmengine import fileio

from backbones.registry import DATASETS, TRANSFORMS

from .annotations import frame_file
from .policy import PROGRAMMING_ERRORS, RobustDatasetMixin, UnreadableVideoError

__all__ = ['CheckedRawFrameDecode', 'RawframeListDataset', 'RepeatAugRawframeListDataset']


@TRANSFORMS.register_module()
class CheckedRawFrameDecode(BaseTransform):
    """mmaction2's ``RawFrameDecode`` (same keys in and out, same frames) that fails with the file name.

    Reads ``frame_dir / filename_tmpl.format(frame_ind + offset)`` for every index in ``frame_inds`` (each
    distinct index once; repeats are copies, so in-place augmentations stay independent), RGB frames in RGB
    order, flow frames as ``(H, W, 2)`` from their ``x`` / ``y`` files. A missing file, a file that does not
    decode as an image, or a frame whose size differs from the first raises :class:`UnreadableVideoError`
    naming the file, which the dataset's policy skips (training) or raises (testing). ``gt_bboxes`` and
    ``proposals`` in relative coordinates are scaled to pixels, as ``RawFrameDecode`` does (AVA).

    Required keys: ``frame_dir``, ``filename_tmpl``, ``frame_inds``, ``modality``, ``offset`` (optional).
    Added keys: ``imgs``, ``img_shape``, ``original_shape``.

    Args:
        backend_args (dict, optional): MMEngine file backend arguments (e.g. ``dict(backend='petrel')``).
        decoding_backend (str): ``mmcv.imfrombytes`` backend (``'cv2'``, ``'turbojpeg'``, ``'pillow'``).
    """

    def __init__(self, backend_args: Optional[dict] = None, decoding_backend: str = 'cv2') -> None:
        self.backend_args = copy.deepcopy(backend_args)
        self.decoding_backend = decoding_backend

    def _read(self, path: str, flag: str, channel_order: str) -> np.ndarray:
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise UnreadableVideoError(f'frame file not found: {path}') from err
        undecodable = (f'frame file {path} ({len(data)} bytes) does not decode as an image (empty, truncated or '
                       'not an image)')
        try:  # cv2 returns None for undecodable bytes, and mmcv's RGB conversion then raises cv2.error
            img = mmcv.imfrombytes(data, flag=flag, channel_order=channel_order, backend=self.decoding_backend)
        except PROGRAMMING_ERRORS + (ValueError, ):  # a bad flag or backend is a config error, not a bad frame
            raise
        except Exception as err:
            raise UnreadableVideoError(undecodable) from err
        if img is None:
            raise UnreadableVideoError(undecodable)
        return img

    def _load(self, frame_dir: str, tmpl: str, index: int, modality: str) -> np.ndarray:
        if modality == 'RGB':
            return self._read(frame_file(frame_dir, tmpl, index), 'color', 'rgb')
        if modality == 'Flow':
            x = self._read(frame_file(frame_dir, tmpl, index, 'x'), 'grayscale', 'bgr')
            y = self._read(frame_file(frame_dir, tmpl, index, 'y'), 'grayscale', 'bgr')
            if x.shape != y.shape:
                raise UnreadableVideoError(f'flow frame {index} in {frame_dir}: x is {x.shape}, y is {y.shape}')
            return np.stack([x, y], axis=-1)
        raise ValueError(f"modality must be 'RGB' or 'Flow', got {modality!r}")

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frame_dir, tmpl, modality = results['frame_dir'], results['filename_tmpl'], results['modality']
        offset = results.get('offset', 0)
        inds = np.asarray(results['frame_inds']).reshape(-1)
        results['frame_inds'] = inds
        if inds.size == 0:
            raise ValueError(f'no frame indices to read in {frame_dir}')
        loaded: Dict[int, np.ndarray] = {}
        imgs = []
        for ind in inds.tolist():
            if ind in loaded:
                imgs.append(loaded[ind].copy())
                continue
            img = self._load(frame_dir, tmpl, ind + offset, modality)
            if loaded and img.shape != imgs[0].shape:
                raise UnreadableVideoError(
                    f'frame {ind + offset} in {frame_dir} is {img.shape[1]}x{img.shape[0]}, the first read frame is '
                    f'{imgs[0].shape[1]}x{imgs[0].shape[0]}')
            loaded[ind] = img
            imgs.append(img)
        h, w = imgs[0].shape[:2]
        results.update(imgs=imgs, original_shape=(h, w), img_shape=(h, w))
        if 'gt_bboxes' in results:  # AVA: relative boxes to pixels of the frames read here
            scale = np.array([w, h, w, h])
            results['gt_bboxes'] = (results['gt_bboxes'] * scale).astype(np.float32)
            if results.get('proposals') is not None:
                results['proposals'] = (results['proposals'] * scale).astype(np.float32)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(backend_args={self.backend_args}, decoding_backend={self.decoding_backend})'


@DATASETS.register_module()
class RawframeListDataset(RobustDatasetMixin, RawframeDataset):
    """mmaction2 ``RawframeDataset`` with the bad input policy: every row is parsed by
    :func:`tasks.datasets.annotations.parse_rawframe_list` when built (file:line errors; first and last frame
    files must exist), frames that fail to load are skipped in training and raise in testing.

    Example config::

        dataset=dict(type='RawframeListDataset', ann_file='data/k400/k400_train_list_rawframes.txt',
                     num_classes=400, data_prefix=dict(img='data/k400/rawframes_train'),
                     pipeline=[dict(type='SampleFrames', clip_len=16, frame_interval=4, num_clips=1),
                               dict(type='CheckedRawFrameDecode'), ...])

    Args:
        num_classes (int, optional): Labels must be below it.
        on_error (str, optional): See :class:`~tasks.datasets.policy.RobustDatasetMixin`.
        check_files (bool): Check at build time that the first and last frame of every row exist.
        **kwargs: ``RawframeDataset`` arguments (``filename_tmpl='img_{:05}.jpg'``, ``start_index=1``,
            ``with_offset``, ``data_prefix=dict(img=...)``, ``pipeline``, ``test_mode``, ...).
    """


class _RepeatAugRawframeDataset(RawframeDataset):
    """Repeated augmentation on rawframes; the bad input policy comes from the subclass's mixin."""

    def __init__(self, *args, num_repeats: int = 2, sample_once: bool = False, **kwargs) -> None:
        if num_repeats < 1:
            raise ValueError(f'num_repeats must be >= 1, got {num_repeats}')
        kwargs['test_mode'] = False  # training only, like mmaction2's RepeatAugDataset
        super().__init__(*args, **kwargs)
        self.num_repeats, self.sample_once = num_repeats, sample_once
        head = self.pipeline.transforms[:2]
        if len(head) < 2 or not isinstance(head[1], (CheckedRawFrameDecode, RawFrameDecode)) or isinstance(
                head[0], (CheckedRawFrameDecode, RawFrameDecode)):
            raise ValueError(f'{type(self).__name__} needs a pipeline that starts [frame sampler, '
                             'CheckedRawFrameDecode (or RawFrameDecode), ...], got '
                             f'{[type(t).__name__ for t in head]}')

    def prepare_data(self, idx: int) -> List[dict]:
        """``num_repeats`` augmented copies of one video, its frame files read once."""
        sampler, decode, *tail = self.pipeline.transforms
        info = self.get_data_info(idx)
        draws = [sampler(copy.deepcopy(info)) for _ in range(1 if self.sample_once else self.num_repeats)]
        inds = [np.asarray(d['frame_inds']).reshape(-1) for d in draws]
        inds = inds * self.num_repeats if self.sample_once else inds
        sampled = draws[0]  # keeps the sampler's other keys (clip_len, frame_interval, num_clips)
        sampled['frame_inds'] = np.concatenate(inds)
        decoded = decode(sampled)  # every distinct frame index read once, across all repeats
        imgs = decoded.pop('imgs')
        bounds = np.cumsum([0] + [len(x) for x in inds])
        out = []
        for r in range(self.num_repeats):
            sample = copy.deepcopy(decoded)
            sample['frame_inds'] = inds[r]
            sample['imgs'] = imgs[bounds[r]:bounds[r + 1]]
            for t in tail:
                sample = t(sample)
                if sample is None:
                    return None
            out.append(sample)
        return out


@DATASETS.register_module()
class RepeatAugRawframeListDataset(RobustDatasetMixin, _RepeatAugRawframeDataset):
    """Repeated augmentation (the official recipes' ``num_sample``) on rawframe lists, with the bad input
    policy: each video yields ``num_repeats`` differently augmented samples (use
    ``collate_fn=dict(type='repeat_pseudo_collate')``) and every frame file is read and decoded once.

    The pipeline is ``[sampler, CheckedRawFrameDecode, *augmentations]``; with ``sample_once=True`` all copies
    share the sampled frame indices (as in the official code and the video lists), otherwise each copy
    draws its own and the union is read once. mmaction2's ``RepeatAugDataset`` only handles videos.

    Args:
        num_repeats (int): Copies per video.
        sample_once (bool): One draw of frame indices shared by all copies.
        **kwargs: :class:`RawframeListDataset` arguments.
    """

