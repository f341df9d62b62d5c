"""Temporal action detection datasets on precomputed features: ActivityNet-format JSON + one ``.npy`` per video.

Files::

    ann_file:  {"database": {video: {"subset": "validation", "duration": 180.2, "fps": 30.0 (optional),
                                     "annotations": [{"segment": [12.1, 15.3], "label": "CliffDiving"}, ...]}}}
    feat_root/{video}.npy     (T, C) float features of the video (``feat_name`` sets the file name)
    feat_root/features.json   the feature grid: {"fps", "stride", "clip_len", "offset", "formula"}
                              (:meth:`tasks.tad.grid.FeatureGrid.to_dict`, what tools/extract_features.py writes)

The grid (where feature ``i`` sits in seconds) comes from ``features.json`` and/or the config's ``grid``
(``dict(fps=, stride=, clip_len=, offset=)``, overriding the file); a video's own ``fps`` in the JSON (or in
``features.json``'s ``videos`` table) overrides the frame rate. Classes come from ``classes`` or are the sorted
labels of ``train_subset`` (``exclude_labels``, THUMOS's ``'Ambiguous'``, are dropped everywhere).

ActivityNet's fixed-length features (``resize_length``, e.g. 128): each video's features are linearly
interpolated once (``align_corners=False``) and cached (in ``resize_cache_dir`` as ``.npy``, else in memory);
the grid becomes exact for the interpolated samples: stride ``s * T / L`` (fractional) and offset
``offset + (s * T / L - s) / 2`` frames.

Bad input (:mod:`tasks.datasets.policy`): checked when the dataset is built, from the ``.npy`` headers (no
feature data is read): a feature file missing, unreadable, not 2-D, empty (0 features) or of the wrong width
(``feat_dim``); a segment with end <= start or outside ``[0, duration]`` (beyond ``segment_tolerance`` seconds;
within it, segments are clipped); an unknown label; a video shorter than one clip (``duration * fps <
clip_len``). One :class:`tasks.datasets.annotations.AnnotationError` names the annotation file, the video, the
feature file and the problem (``on_error='skip'``: such videos are dropped with one warning and their count). A
feature file that fails to load later is skipped and counted in training, and raises in testing.
"""
import copy
import difflib
import logging
import os
import os.path as osp
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from backbones.registry import DATASETS
from tasks.datasets.annotations import AnnotationError, apply_annotation_policy
from tasks.datasets.policy import LoadErrorPolicy

from .grid import FeatureGrid
from .metric import load_json

__all__ = ['TADFeatureDataset', 'THUMOS14Dataset', 'ActivityNet13Dataset', 'ToyTADDataset', 'resized_grid',
           'resize_features']


def resized_grid(grid: FeatureGrid, num_feats: int, length: int) -> FeatureGrid:
    """Grid of ``num_feats`` features linearly interpolated to ``length`` (``align_corners=False``): sample ``j``
    reads original position ``(j + 0.5) * T / L - 0.5``, so stride ``s * T / L`` and offset ``offset + (s * T / L -
    s) / 2`` frames."""
    stride = grid.stride * num_feats / length
    return FeatureGrid(fps=grid.fps, stride=stride, clip_len=grid.clip_len,
                       offset=grid.offset + (stride - grid.stride) / 2)


def resize_features(feats: np.ndarray, length: int) -> np.ndarray:
    """``(T, C)`` -> ``(length, C)`` float32 by linear interpolation (``align_corners=False``)."""
    x = torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32).T)[None]
    return F.interpolate(x, size=length, mode='linear', align_corners=False)[0].T.contiguous().numpy()


@DATASETS.register_module()
class TADFeatureDataset(BaseDataset):
    """Videos of one (or several) subsets of an ActivityNet-format JSON with their feature files (module
    docstring: formats, grid, resizing, bad input).

    Args:
        ann_file (str): ActivityNet-format ground-truth JSON.
        feat_root (str): Folder of ``{video}.npy`` ``(T, C)`` features (and ``features.json``).
        subset (str | Sequence[str]): Subset(s) of the JSON to use (``'validation'``, ``'test'``, ...).
        pipeline (list): Transforms (:mod:`tasks.tad.transforms`: ``RandomTruncateFeatures`` in training, then
            ``PackTADInputs``).
        classes (Sequence[str], optional): Class names, index = label. Default: the sorted labels of
            ``train_subset``.
        train_subset (str | Sequence[str], optional): Subset(s) the class list is derived from. Default ``subset``.
        exclude_labels (Sequence[str]): Labels dropped from the ground truth (THUMOS14: ``('Ambiguous',)``).
        feat_dim (int, optional): Channels ``C`` every feature file must have (the model's ``in_channels``).
        grid (dict, optional): ``fps``, ``stride``, ``clip_len``, ``offset``; overrides ``features.json``.
        grid_file (str, optional): Grid JSON, relative to ``feat_root`` unless absolute (``'features.json'``);
            None: only ``grid``. A missing file is fine when ``grid`` is complete.
        feat_name (str): Feature file name pattern (``'{video}.npy'``; ActivityNet releases: ``'v_{video}.npy'``).
        resize_length (int, optional): Interpolate every video's features to this many (ActivityNet: 128).
        resize_cache_dir (str, optional): Where the resized features are cached (``{video}_{L}.npy``, written
            atomically, reused across runs); None: in memory, per process.
        class_agnostic (bool): Every segment gets label 0 (``classes=('action',)`` unless given): ActivityNet's
            protocol with an external video classifier at test time.
        segment_tolerance (float): Seconds a segment may reach outside ``[0, duration]`` (then clipped).
        filter_empty_gt (bool, optional): Drop videos without segments (default: in training only).
        on_error (str, optional): None / ``'raise'``: bad videos fail the build; ``'skip'``: dropped and counted.
        max_consecutive_errors (int): Load failures in a row that stop training.
        test_mode (bool): Validation / test dataset.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``metainfo``, ``indices``, ...).
    """

    def __init__(self, ann_file: str, feat_root: str, subset: Union[str, Sequence[str]], pipeline: Sequence = (),
                 classes: Optional[Sequence[str]] = None, train_subset: Union[str, Sequence[str], None] = None,
                 exclude_labels: Sequence[str] = (), feat_dim: Optional[int] = None, grid: Optional[dict] = None,
                 grid_file: Optional[str] = 'features.json', feat_name: str = '{video}.npy',
                 resize_length: Optional[int] = None, resize_cache_dir: Optional[str] = None,
                 class_agnostic: bool = False, segment_tolerance: float = 0.5,
                 filter_empty_gt: Optional[bool] = None, on_error: Optional[str] = None,
                 max_consecutive_errors: int = 20, test_mode: bool = False, **kwargs):
        self._policy = LoadErrorPolicy(on_error, max_consecutive_errors)
        self.on_error = on_error
        self.feat_root, self.feat_name, self.feat_dim = feat_root, feat_name, feat_dim
        self.subsets = [subset] if isinstance(subset, str) else list(subset)
        self.exclude_labels = set(exclude_labels)
        self.resize_length, self.resize_cache_dir = resize_length, resize_cache_dir
        if resize_length is not None and resize_length < 1:
            raise ValueError(f'{type(self).__name__}: resize_length must be >= 1, got {resize_length}')
        self.class_agnostic, self.segment_tolerance = class_agnostic, float(segment_tolerance)
        self.filter_empty_gt = (not test_mode) if filter_empty_gt is None else filter_empty_gt
        self._resized: Dict[str, np.ndarray] = {}
        self.num_resized = 0  # resizes computed by this process (the cache makes it one per video)
        self.database = self._read_database(ann_file)
        self.grid_dict, self.video_fps = self._read_grid(grid, grid_file)
        train_subsets = self.subsets if train_subset is None else (
            [train_subset] if isinstance(train_subset, str) else list(train_subset))
        if classes is None:
            classes = ['action'] if class_agnostic else self._derive_classes(ann_file, train_subsets)
        metainfo = {**(kwargs.pop('metainfo', None) or {}), 'classes': tuple(classes)}
        super().__init__(ann_file=ann_file, metainfo=metainfo, pipeline=list(pipeline), test_mode=test_mode,
                         **kwargs)

    # -- reading ---------------------------------------------------------------------------------------------
    def _read_database(self, ann_file: str) -> dict:
        data = load_json(ann_file, 'annotation')
        if not isinstance(data, dict) or not isinstance(data.get('database'), dict):
            raise AnnotationError(f'{ann_file}: not ActivityNet format: expected {{"database": {{video: {{"subset", '
                                  '"duration", "annotations": [{"segment", "label"}]}}}}}}')
        present = Counter(v.get('subset') if isinstance(v, dict) else None for v in data['database'].values())
        for s in self.subsets:
            if present[s] == 0:
                close = difflib.get_close_matches(s, [k for k in present if isinstance(k, str)], n=1, cutoff=0.5)
                hint = f' Did you mean {close[0]!r}?' if close else ''
                listing = ', '.join(f'{k!r} ({n} videos)' for k, n in present.items())
                raise AnnotationError(f'{ann_file}: subset {s!r} has no videos; subsets in this file: '
                                      f'{listing or "none"}.{hint}')
        return data['database']

    def _read_grid(self, grid: Optional[dict], grid_file: Optional[str]):
        found: dict = {}
        path = None
        if grid_file is not None:
            path = grid_file if osp.isabs(grid_file) else osp.join(self.feat_root, grid_file)
            if osp.isfile(path):
                found = load_json(path, 'feature grid')
                if not isinstance(found, dict):
                    raise AnnotationError(f'{path}: expected a JSON object with fps, stride, clip_len, offset')
        merged = {k: found[k] for k in ('fps', 'stride', 'clip_len', 'offset') if found.get(k) is not None}
        for k, v in (grid or {}).items():
            if k not in ('fps', 'stride', 'clip_len', 'offset'):
                raise ValueError(f'{type(self).__name__}: grid.{k} is unknown; grid has fps, stride, clip_len, '
                                 'offset')
            if k in merged and v is not None and float(merged[k]) != float(v):
                print_log(f'{type(self).__name__}: grid.{k}={v} from the config overrides {merged[k]} in {path}',
                          logger='current', level=logging.WARNING)
            if v is not None:
                merged[k] = v
        missing = [k for k in ('stride', 'clip_len') if k not in merged]
        if missing:
            where = f'{path} does not exist' if path and not found else f'{path or "no grid file"}'
            raise AnnotationError(f'{type(self).__name__}: the feature grid misses {", ".join(missing)} ({where}); '
                                  'give grid=dict(fps=..., stride=..., clip_len=..., offset=...) in the config or '
                                  'the features.json that tools/extract_features.py writes')
        videos = found.get('videos') if isinstance(found.get('videos'), dict) else {}
        video_fps = {k: v['fps'] for k, v in videos.items() if isinstance(v, dict) and v.get('fps')}
        return merged, video_fps

    def _labels_of(self, video: dict) -> List[str]:
        anns = video.get('annotations') or []
        return [str(a['label']) for a in anns if isinstance(a, dict) and 'label' in a]

    def _derive_classes(self, ann_file: str, subsets: List[str]) -> List[str]:
        labels = {lab for v in self.database.values() if isinstance(v, dict) and v.get('subset') in subsets
                  for lab in self._labels_of(v)} - self.exclude_labels
        if not labels:
            raise AnnotationError(f'{ann_file}: subset(s) {subsets} have no labelled segments to derive the class '
                                  'list from; pass classes=[...] or train_subset=')
        return sorted(labels)

    def _feature_problem(self, path: str) -> Optional[tuple]:
        """``(kind, detail)`` when the feature file is unusable, from its header; else ``(None, T)``."""
        if not osp.isfile(path):
            return 'missing features', f'feature file {path} does not exist'
        try:
            arr = np.load(path, mmap_mode='r', allow_pickle=False)
        except Exception as err:  # noqa: BLE001  (any unreadable file is a data problem here)
            size = osp.getsize(path)
            what = 'is empty (0 bytes)' if size == 0 else f'is not a readable .npy array ({type(err).__name__}: ' \
                f'{err})'
            return 'empty features' if size == 0 else 'unreadable features', f'feature file {path} {what}'
        if arr.ndim != 2:
            return 'bad features', f'feature file {path} has shape {arr.shape}, expected (T, C)'
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            return 'empty features', f'feature file {path} is empty (shape {arr.shape})'
        if self.feat_dim is not None and arr.shape[1] != self.feat_dim:
            return 'wrong feature width', (f'feature file {path} has {arr.shape[1]} channels per feature, expected '
                                           f'{self.feat_dim} (feat_dim, the model\'s in_channels)')
        return None, int(arr.shape[0])

    def feat_path(self, video: str) -> str:
        return osp.join(self.feat_root, self.feat_name.format(video=video))

    def load_data_list(self) -> List[dict]:
        """One info dict per video of the subset(s); bad videos raise (or are dropped, ``on_error='skip'``)."""
        classes = list(self.metainfo['classes'])
        index = {c: i for i, c in enumerate(classes)}
        data_list, problems, total, no_gt = [], [], 0, 0
        excluded = 0
        for vid, v in self.database.items():
            if not isinstance(v, dict) or v.get('subset') not in self.subsets:
                continue
            total += 1
            where = f'video {vid!r}'
            path = self.feat_path(vid)
            kind, detail = self._feature_problem(path)
            if kind is not None:
                problems.append((where, kind, detail))
                continue
            num_feats = detail
            fps = v.get('fps') or self.video_fps.get(vid) or self.grid_dict.get('fps')
            if fps is None:
                problems.append((where, 'no fps', 'no frame rate: give "fps" in the annotation JSON or in '
                                 'features.json, or grid=dict(fps=...) in the config'))
                continue
            try:
                grid = FeatureGrid.from_dict(self.grid_dict, fps=float(fps), source=where)
            except ValueError as err:
                problems.append((where, 'bad grid', str(err)))
                continue
            duration = v.get('duration')
            if duration is None:  # the frames the features cover
                duration = (grid.stride * (num_feats - 1) + grid.clip_len) / grid.fps
            duration = float(duration)
            frames = duration * grid.fps
            if frames < grid.clip_len:
                problems.append((where, 'short video', f'duration {duration:g} s = {frames:.1f} frames at '
                                 f'{grid.fps:g} fps is shorter than one clip ({grid.clip_len} frames); feature '
                                 f'file {path}'))
                continue
            segs, labels, bad = [], [], None
            tol = self.segment_tolerance
            for k, ann in enumerate(v.get('annotations') or []):
                w = f'annotation {k}'
                try:
                    s, e = (float(x) for x in ann['segment'])
                    label = str(ann['label'])
                except (KeyError, TypeError, ValueError):
                    bad = ('malformed annotation', f'{w}: expected {{"segment": [start, end], "label": name}}, '
                           f'got {ann!r}')
                    break
                if label in self.exclude_labels:
                    excluded += 1
                    continue
                if not e > s:
                    bad = ('bad segment', f'{w}: segment [{s:g}, {e:g}] has end <= start')
                    break
                if s < -tol or e > duration + tol or s >= duration or e <= 0:
                    bad = ('segment outside video', f'{w}: segment [{s:g}, {e:g}] lies outside the video '
                           f'[0, {duration:g}] s (tolerance {tol:g} s)')
                    break
                if self.class_agnostic:
                    lab = 0
                elif label not in index:
                    close = difflib.get_close_matches(label, classes, n=1)
                    hint = f', did you mean {close[0]!r}?' if close else ''
                    bad = ('unknown label', f'{w}: unknown label {label!r} (not among the {len(classes)} classes'
                           f'{hint})')
                    break
                else:
                    lab = index[label]
                segs.append((max(s, 0.), min(e, duration)))
                labels.append(lab)
            if bad is not None:
                problems.append((where, bad[0], bad[1]))
                continue
            if not segs and self.filter_empty_gt:
                no_gt += 1
                continue
            info = dict(video_name=vid, feat_path=path, fps=grid.fps, duration=duration, num_feats=num_feats,
                        orig_num_feats=num_feats, feat_grid=grid,
                        gt_segments=np.asarray(segs, dtype=np.float32).reshape(-1, 2),
                        gt_labels=np.asarray(labels, dtype=np.int64))
            if self.resize_length is not None:
                info['feat_grid'] = resized_grid(grid, num_feats, self.resize_length)
                info['num_feats'] = self.resize_length
            data_list.append(info)
        apply_annotation_policy(problems, total, self.ann_file, self.on_error)
        if no_gt or excluded:
            print_log(f'{type(self).__name__} {self.ann_file} {self.subsets}: {len(data_list)} videos; '
                      f'{excluded} segments with excluded labels {sorted(self.exclude_labels)} dropped'
                      + (f', {no_gt} videos without segments left out (filter_empty_gt)' if no_gt else ''),
                      logger='current')
        return data_list

    # -- loading ---------------------------------------------------------------------------------------------
    @property
    def skip_log(self):
        return self._policy.skip_log

    def load_features(self, info: dict) -> np.ndarray:
        """``(T, C)`` float32 features of one video (resized once and cached when ``resize_length`` is set)."""
        video, length = info['video_name'], self.resize_length
        if length is None:
            return self._load_npy(info)
        if video in self._resized:
            return self._resized[video]
        cached = None
        if self.resize_cache_dir is not None:
            cached = osp.join(self.resize_cache_dir, f'{video}_{length}.npy')
            if osp.isfile(cached):
                arr = np.load(cached)
                if arr.shape[0] == length:
                    return arr
        arr = resize_features(self._load_npy(info), length)
        self.num_resized += 1
        if cached is not None:
            os.makedirs(self.resize_cache_dir, exist_ok=True)
            tmp = f'{cached}.tmp-{os.getpid()}.npy'
            np.save(tmp, arr)
            os.replace(tmp, cached)
        else:
            self._resized[video] = arr
        return arr

    def _load_npy(self, info: dict) -> np.ndarray:
        arr = np.load(info['feat_path'], allow_pickle=False)
        if arr.ndim != 2 or arr.shape[0] != info['orig_num_feats']:
            raise ValueError(f'{info["feat_path"]}: shape {arr.shape} changed since the dataset was built '
                             f'(was ({info["orig_num_feats"]}, C))')
        return np.ascontiguousarray(arr, dtype=np.float32)

    def prepare_data(self, idx: int) -> Any:
        info = copy.copy(self.get_data_info(idx))
        try:
            info['feats'] = self.load_features(info)
        except Exception as err:  # noqa: BLE001  (the policy re-raises programming errors)
            self._policy.failed(err, info['feat_path'], self.test_mode)
            return None
        self._policy.ok()
        return self.pipeline(info)


@DATASETS.register_module()
class THUMOS14Dataset(TADFeatureDataset):
    """THUMOS14 (20 classes): trained on the ``'validation'`` subset, tested on ``'test'``; ``'Ambiguous'``
    segments dropped. Arguments: :class:`TADFeatureDataset`."""

    def __init__(self, *args, exclude_labels: Sequence[str] = ('Ambiguous',),
                 train_subset: Union[str, Sequence[str], None] = 'validation', **kwargs):
        super().__init__(*args, exclude_labels=exclude_labels, train_subset=train_subset, **kwargs)


@DATASETS.register_module()
class ActivityNet13Dataset(TADFeatureDataset):
    """ActivityNet-1.3 (200 classes): ``'training'`` / ``'validation'``; features resized once to
    ``resize_length`` (128). ``class_agnostic=True`` for the usual protocol with an external video classifier.
    Arguments: :class:`TADFeatureDataset`."""

    def __init__(self, *args, resize_length: Optional[int] = 128,
                 train_subset: Union[str, Sequence[str], None] = 'training', **kwargs):
        super().__init__(*args, resize_length=resize_length, train_subset=train_subset, **kwargs)


@DATASETS.register_module()
class ToyTADDataset(TADFeatureDataset):
    """The toy TAD set (:mod:`tasks.toy_data.tad`), generated (videos, JSON, features) when missing.

    Args:
        toy (dict): ``root`` and the parameters of :func:`tasks.toy_data.tad.ensure_tad`.
        **kwargs: :class:`TADFeatureDataset` arguments; ``ann_file`` and ``feat_root`` default to the toy set's.
    """

    def __init__(self, toy: dict, **kwargs):
        from tasks.toy_data.tad import ensure_tad, toy_tad_files
        if not isinstance(toy, dict) or 'root' not in toy:
            raise ValueError(f'ToyTADDataset needs toy=dict(root=..., ...) (ensure_tad arguments), got {toy!r}')
        toy = dict(toy)
        root = ensure_tad(toy.pop('root'), **toy)
        files = toy_tad_files(root)
        kwargs.setdefault('ann_file', files['ann_file'])
        kwargs.setdefault('feat_root', files['feat_root'])
        super().__init__(**kwargs)
