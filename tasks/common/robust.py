"""Bad input policy for video datasets: bad annotations fail at build time, unreadable videos are skipped
(and counted) in training and raise in testing.

Policy (README section)
-----------------------
Every VideoFM video dataset (``ToyVideoDataset``, ``VideoListDataset``, ``RepeatAugVideoListDataset``, the
rawframe lists ``RawframeListDataset`` / ``RepeatAugRawframeListDataset`` of :mod:`tasks.common.rawframes`,
and any dataset wrapped in ``RobustDataset``) takes ``on_error=None | 'skip' | 'raise'``. The annotation
checks live in :mod:`tasks.common.annotations`.

* **Annotation errors fail when the dataset is built**, with one message naming the annotation file, the
  line (or row) and the problem, plus how many other rows are bad: a malformed row (wrong number of
  fields), a non-integer or negative label, a label ``>= num_classes`` (when the dataset knows it from
  ``num_classes`` or ``metainfo['classes']``), a video file that does not exist (local paths only; URLs
  are not checked; ``check_files=False`` turns the check off); for rawframe lists a frame count that is not a
  positive integer and a missing first or last frame file (wrong folder, ``filename_tmpl`` or count). With
  ``on_error='skip'`` the bad rows are dropped instead and one warning gives their count per problem.
* **Unreadable videos are found when they are loaded**: an empty, truncated or corrupt file, a file that
  is not a video, a container without a video stream, a decode error; for rawframes a missing or undecodable
  frame file, or a frame of another size. In training (default, or
  ``on_error='skip'``) the sample is skipped with a warning naming the file and the decoder's error on one
  line, MMEngine's refetch replaces it with another random sample, and the run goes on.
  ``SkippedSamplesHook`` (``custom_hooks = [dict(type='SkippedSamplesHook')]``) reports the number of
  skipped samples every epoch (``N samples skipped this epoch: file (reason), ...``) and puts it into the
  message hub (``train/skipped_samples``, shown in the iteration logs and ``scalars.json``); the count is
  kept in a small file, so it includes samples skipped inside DataLoader worker processes. With
  ``on_error='raise'`` the first unreadable video stops training with an error naming it. **In test /
  validation mode an unreadable video always raises**: a metric over a silently smaller set is wrong.
* Only what really breaks is flagged. A video shorter than the clip is *not* an error: mmaction2's
  samplers loop or repeat frames. Programming errors (``KeyError``, ``TypeError``, ``AttributeError``,
  ...) are never skipped, and ``max_consecutive_errors`` (20) failures in a row in one process stop the run
  as a configuration problem rather than skipping the whole dataset.

Measured failure modes (decord 0.6.0, mmaction2 1.2.0 ``DecordInit -> SampleFrames -> DecordDecode``)
--------------------------------------------------------------------------------------------------------
============================================  ==============================================================
input                                         what happens
============================================  ==============================================================
missing file                                  ``DecordInit``: ``FileNotFoundError [Errno 2] No such file``
0-byte file                                   ``DecordInit``: ``RuntimeError: Error reading 0 bytes...``
text file named ``.mp4``                      ``DecordInit``: ``RuntimeError: Error reading 20 bytes...``
mp4 truncated to half its bytes               ``DecordInit``: ``RuntimeError: Error reading N bytes...``
                                              (ffmpeg prints "moov atom not found" to stderr only)
container with no frames (cv2 writer, none    ``DecordInit``: ``DECORDError ... cannot find video stream
written)                                      with wanted index: -1``
bytes overwritten in the middle (random or    64-px toy clip: opens fine (``len()`` is right), then
zeros)                                        ``DecordDecode``: ``DECORDError ... avcodec_send_packet ...
                                              Thread worker: Error sending packet.``; 32-px clip (damage
                                              reaches the index): ``DecordInit``: ``Error reading N bytes``
video shorter than the clip (3 frames,        no error: ``SampleFrames`` loops (``[0, 2, 1, 0, 2, ...]``),
clip_len 8 x interval 2)                      ``out_of_bound_opt='repeat_last'`` repeats, ``UniformSample``
                                              and ``DenseSampleFrames`` repeat frames too
OpenCV's ``Megamind_bugy.avi``                no error: decord and OpenCV both decode all 270 frames
                                              (720x528), so it is loaded like any other video
============================================  ==============================================================

mmaction2's ``VideoDataset.load_data_list`` itself fails on a 3-field row with ``ValueError: too many
values to unpack`` and on a bad label with ``invalid literal for int()``, both without file or line; it
accepts negative labels and labels ``>= num_classes`` (they fail later, in the loss).
"""
import copy
import logging
import os
import os.path as osp
import re
import tempfile
import uuid
import weakref
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmaction.datasets import RawframeDataset, RepeatAugDataset, VideoDataset
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch.utils.data import Dataset

from backbones.registry import DATASETS, HOOKS

from .annotations import (MAX_LISTED, AnnotationError, apply_annotation_policy, parse_rawframe_list,
                          parse_video_list, validate_data_list)

__all__ = [
    'AnnotationError', 'UnreadableVideoError', 'SkipLog', 'describe_error', 'RobustDatasetMixin', 'VideoListDataset',
    'RepeatAugVideoListDataset', 'RobustDataset', 'SkippedSamplesHook', 'find_skip_logs', 'format_skipped'
]

ON_ERROR = (None, 'skip', 'raise')
#: Exceptions that are bugs in code or config, never a bad video: always re-raised.
PROGRAMMING_ERRORS = (KeyError, TypeError, AttributeError, NameError, ImportError, NotImplementedError,
                      AssertionError, SyntaxError, MemoryError)


class UnreadableVideoError(RuntimeError):
    """A listed video cannot be loaded (raised in test mode, or in training with ``on_error='raise'``)."""


def _check_on_error(on_error: Optional[str]) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be None (default policy), 'skip' or 'raise', got {on_error!r}")


# ----------------------------------------------------------------------------------------------------
# Error text
# ----------------------------------------------------------------------------------------------------
_DECORD_PREFIX = re.compile(r'\[\d\d:\d\d:\d\d\] \S+?:\d+: ')


def describe_error(err: BaseException, filename: Optional[str] = None, max_len: int = 200) -> str:
    """One line describing why a video could not be loaded.

    decord's messages span lines and repeat ``[hh:mm:ss] src/file.cc:NN:`` prefixes; they are dropped,
    whitespace is collapsed and a ``Stack trace`` tail is cut. An empty file and decord's uninformative
    ``Error reading N bytes`` (ffmpeg could not open the container) get a plain explanation.

    Args:
        err (BaseException): The exception raised while loading.
        filename (str, optional): The file, to tell an empty file apart.
        max_len (int): Longest returned text.

    Returns:
        str: ``"<ExceptionType>: <message>"`` on one line.
    """
    text = _DECORD_PREFIX.sub('', str(err)).split('Stack trace')[0]
    text = ' '.join(text.split())
    if filename is not None and osp.isfile(filename) and osp.getsize(filename) == 0:
        text = f'empty file (0 bytes); {text}'
    elif re.match(r'Error reading \d+ bytes', text):
        text = f'cannot open the container (truncated, empty or not a video); {text}'
    text = f'{type(err).__name__}: {text}'
    return text if len(text) <= max_len else text[:max_len - 3] + '...'


# ----------------------------------------------------------------------------------------------------
# Load time: counting skipped samples across processes
# ----------------------------------------------------------------------------------------------------
def _remove_if_owner(path: str, pid: int) -> None:
    if os.getpid() == pid:
        try:
            os.unlink(path)
        except OSError:
            pass


class SkipLog:
    """Skipped samples, shared by a dataset and all its DataLoader workers.

    One line ``file\\treason`` per skipped sample, appended to a small file in the temp dir whose name is
    fixed before the workers start. Appends of one short ``os.write`` with ``O_APPEND`` are atomic, so any
    number of worker processes (fork or spawn) can record while the main process reads. Copies and
    pickles refer to the same file; the process that created it removes it when the log is collected.

    Args:
        path (str, optional): Use this file (e.g. in the work dir) instead of a new temporary one.
    """

    def __init__(self, path: Optional[str] = None) -> None:
        if path is None:  # created by the first record(), so a clean run leaves no file behind
            path = osp.join(tempfile.gettempdir(), f'videofm_skipped_{os.getpid()}_{uuid.uuid4().hex}.tsv')
            weakref.finalize(self, _remove_if_owner, path, os.getpid())
        else:
            open(path, 'ab').close()
        self.path = path

    def __reduce__(self):
        return _skip_log_from_path, (self.path, )

    def __deepcopy__(self, memo):
        return self

    def record(self, filename: str, reason: str) -> None:
        """Append one skipped sample."""
        line = f'{filename}\t{reason}'.replace('\n', ' ')[:3000] + '\n'
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode('utf-8', 'replace'))
        finally:
            os.close(fd)

    def size(self) -> int:
        """Current end offset; pass it to :meth:`read` later to get what was recorded since."""
        try:
            return osp.getsize(self.path)
        except OSError:
            return 0

    def read(self, offset: int = 0) -> List[Tuple[str, str]]:
        """``(file, reason)`` of every sample recorded after byte ``offset``."""
        try:
            with open(self.path, 'rb') as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return []
        lines = data.decode('utf-8', 'replace').splitlines()
        return [tuple(x.split('\t', 1)) if '\t' in x else (x, '') for x in lines]


def _skip_log_from_path(path: str) -> SkipLog:
    log = SkipLog.__new__(SkipLog)
    log.path = path
    return log


class _LoadErrorPolicy:
    """What to do when loading one sample raised: shared by the mixin and the wrapper."""

    def __init__(self, on_error: Optional[str], max_consecutive_errors: int) -> None:
        _check_on_error(on_error)
        if max_consecutive_errors < 1:
            raise ValueError(f'max_consecutive_errors must be >= 1, got {max_consecutive_errors}')
        self.on_error = on_error
        self.max_consecutive_errors = max_consecutive_errors
        self.skip_log = SkipLog()
        self._consecutive = 0

    def ok(self) -> None:
        self._consecutive = 0

    def failed(self, err: Exception, filename: str, test_mode: bool) -> None:
        """Raise, or record the sample as skipped (and warn) so the caller can return / fetch another."""
        if isinstance(err, PROGRAMMING_ERRORS):
            raise err
        reason = describe_error(err, filename)
        if test_mode:
            raise UnreadableVideoError(f'cannot load {filename} in test mode ({reason}); an evaluation must '
                                       'see every listed video, so fix or remove it from the list') from err
        if self.on_error == 'raise':
            raise UnreadableVideoError(f"cannot load {filename} ({reason}); on_error='raise'") from err
        self._consecutive += 1
        if self._consecutive >= self.max_consecutive_errors:
            raise UnreadableVideoError(
                f'{self._consecutive} samples in a row failed to load, the last {filename} ({reason}): this '
                'looks like a broken pipeline, config or data folder, not a few bad videos') from err
        self.skip_log.record(filename, reason)
        print_log(f'skipping unreadable video {filename} ({reason}); another sample replaces it',
                  logger='current', level=logging.WARNING)


def _sample_name(info: Any) -> str:
    if isinstance(info, dict):
        for key in ('filename', 'frame_dir', 'video_path', 'img_path'):
            if key in info:
                return str(info[key])
    return repr(info)[:200]


class RobustDatasetMixin:
    """Adds the bad input policy to an mmaction2 / MMEngine dataset class: ``class X(RobustDatasetMixin,
    SomeDataset)``. Put it first in the bases.

    * Build time: a dataset that reads mmaction2's video list format (``VideoDataset.load_data_list``) is
      parsed by :func:`parse_video_list` (line numbers in errors); any other dataset is loaded by its own
      ``load_data_list`` and then checked by :func:`validate_data_list` (row numbers).
    * Load time: ``prepare_data`` catches a failure to load a sample; in training it records it in
      ``self.skip_log`` and returns None, so MMEngine's ``BaseDataset.__getitem__`` fetches another one.

    Args:
        on_error (str, optional): None (default policy: annotation errors raise, unreadable videos are
            skipped in training), ``'skip'`` (also drop bad annotation rows) or ``'raise'`` (also raise on
            the first unreadable video). Test mode always raises on an unreadable video.
        check_files (bool): Check at build time that local video files exist.
        max_consecutive_errors (int): This many load failures in a row (in one process) raise.
        *args, **kwargs: The dataset's own arguments.
    """

    def __init__(self, *args, on_error: Optional[str] = None, check_files: bool = True,
                 max_consecutive_errors: int = 20, **kwargs) -> None:
        self._policy = _LoadErrorPolicy(on_error, max_consecutive_errors)
        self.on_error = on_error
        self.check_files = check_files
        super().__init__(*args, **kwargs)

    @property
    def skip_log(self) -> SkipLog:
        return self._policy.skip_log

    def _known_num_classes(self) -> Optional[int]:
        num_classes = getattr(self, 'num_classes', None)
        if num_classes is None:
            classes = (getattr(self, '_metainfo', None) or {}).get('classes')
            num_classes = len(classes) if classes else None
        return num_classes

    def _next_load_data_list(self):
        mro = type(self).__mro__
        for cls in mro[mro.index(RobustDatasetMixin) + 1:]:
            if 'load_data_list' in vars(cls):
                return cls.load_data_list
        raise TypeError(f'{type(self).__name__} has no load_data_list after RobustDatasetMixin')

    def load_data_list(self) -> List[dict]:
        """Load and check the annotations; raise :class:`AnnotationError` or drop bad rows."""
        own_loader = self._next_load_data_list()
        if own_loader is VideoDataset.load_data_list:
            data_list, problems = parse_video_list(
                self.ann_file, (self.data_prefix or {}).get('video'), delimiter=getattr(self, 'delimiter', ' '),
                multi_class=getattr(self, 'multi_class', False), num_classes=self._known_num_classes(),
                test_mode=self.test_mode, check_files=self.check_files)
            total = len(data_list) + len(problems)
        elif own_loader is RawframeDataset.load_data_list:
            data_list, problems = parse_rawframe_list(
                self.ann_file, (self.data_prefix or {}).get('img'), filename_tmpl=self.filename_tmpl,
                start_index=self.start_index, with_offset=self.with_offset,
                multi_class=getattr(self, 'multi_class', False), num_classes=self._known_num_classes(),
                test_mode=self.test_mode, check_files=self.check_files, modality=self.modality)
            total = len(data_list) + len(problems)
        else:
            try:
                full = super().load_data_list()
            except (ValueError, IndexError, KeyError) as err:
                raise AnnotationError(f'cannot parse annotation file {self.ann_file}: {describe_error(err)}') \
                    from err
            good, problems = validate_data_list(full, self._known_num_classes(), self.check_files)
            data_list, total = [full[i] for i in good], len(full)
        apply_annotation_policy(problems, total, self.ann_file, self.on_error)
        return data_list

    def prepare_data(self, idx: int) -> Any:
        try:
            data = super().prepare_data(idx)
        except Exception as err:
            name = _sample_name(self.get_data_info(idx))
            self._policy.failed(err, name, self.test_mode)
            return None
        self._policy.ok()
        return data


@DATASETS.register_module()
class VideoListDataset(RobustDatasetMixin, VideoDataset):
    """mmaction2 ``VideoDataset`` (Kinetics-style ``path label`` list files) with the bad input policy.

    Example config::

        train_dataloader = dict(dataset=dict(
            type='VideoListDataset', ann_file='data/k400/train_list.txt', num_classes=400,
            data_prefix=dict(video='data/k400/videos'), pipeline=[...]))

    Args:
        ann_file (str): The list file.
        num_classes (int, optional): Labels must be below it (also read from ``metainfo['classes']``).
        on_error (str, optional): See :class:`RobustDatasetMixin`.
        check_files (bool): Check at build time that local video files exist.
        **kwargs: Other ``VideoDataset`` arguments (``pipeline``, ``data_prefix``, ``test_mode``, ...).
    """


@DATASETS.register_module()
class RepeatAugVideoListDataset(RobustDatasetMixin, RepeatAugDataset):
    """mmaction2 ``RepeatAugDataset`` (each video decoded once and augmented ``num_repeats`` times: the
    official ``num_sample`` repeated augmentation) on Kinetics-style list files, with the bad input policy.

    Args:
        num_classes (int, optional): Labels must be below it.
        **kwargs: ``RepeatAugDataset`` and :class:`RobustDatasetMixin` arguments.
    """


@DATASETS.register_module()
class RobustDataset(Dataset):
    """Wraps any dataset (one we do not own) in the bad input policy.

    Example config::

        dataset = dict(type='RobustDataset', on_error=None,
                       dataset=dict(type='RawframeDataset', ann_file=..., pipeline=[...]))

    The wrapped dataset's entries are checked with :func:`validate_data_list` when built (bad rows raise,
    or are dropped with ``on_error='skip'``); a sample that fails to load is replaced by a random other
    one in training (counted in ``skip_log``) and raises in test mode.

    Args:
        dataset (dict | Dataset): The dataset or its config.
        on_error (str, optional): See :class:`RobustDatasetMixin`.
        check_files (bool): Check at build time that local files exist.
        max_consecutive_errors (int): This many load failures in a row raise.
        max_refetch (int): Other samples tried before giving up on one index.
    """

    def __init__(self, dataset: Any, on_error: Optional[str] = None, check_files: bool = True,
                 max_consecutive_errors: int = 20, max_refetch: int = 1000) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self._policy = _LoadErrorPolicy(on_error, max_consecutive_errors)
        self.on_error, self.max_refetch = on_error, max_refetch
        self.test_mode = bool(getattr(self.dataset, 'test_mode', False))
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        get_info = getattr(self.dataset, 'get_data_info', lambda i: {})
        infos = [get_info(i) for i in range(len(self.dataset))]
        meta = getattr(self.dataset, 'metainfo', {}) or {}
        num_classes = getattr(self.dataset, 'num_classes', None) or (len(meta['classes']) if meta.get('classes')
                                                                    else None)
        self._indices, problems = validate_data_list(infos, num_classes, check_files)
        ann_file = getattr(self.dataset, 'ann_file', type(self.dataset).__name__)
        apply_annotation_policy(problems, len(infos), ann_file, on_error)
        self._infos = infos

    @property
    def skip_log(self) -> SkipLog:
        return self._policy.skip_log

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(getattr(self.dataset, 'metainfo', {}))

    def full_init(self) -> None:
        """Already done at construction (the annotations are checked then)."""

    def get_data_info(self, idx: int) -> dict:
        return self._infos[self._indices[idx]]

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, idx: int) -> Any:
        for _ in range(self.max_refetch + 1):
            inner = self._indices[idx]
            try:
                data = self.dataset[inner]
            except Exception as err:
                self._policy.failed(err, _sample_name(self._infos[inner]), self.test_mode)
                idx = np.random.randint(0, len(self))
                continue
            self._policy.ok()
            return data
        raise UnreadableVideoError(f'no loadable sample found after {self.max_refetch} tries')


# ----------------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------------
def find_skip_logs(dataset: Any) -> List[SkipLog]:
    """Every :class:`SkipLog` in ``dataset`` and the datasets it wraps (Concat/Repeat/... wrappers)."""
    found, seen = [], set()

    def visit(ds: Any, depth: int) -> None:
        if ds is None or depth > 8:
            return
        log = getattr(ds, '_policy', None)
        if isinstance(log, _LoadErrorPolicy) and log.skip_log.path not in seen:
            seen.add(log.skip_log.path)
            found.append(log.skip_log)
        visit(getattr(ds, 'dataset', None), depth + 1)
        for child in getattr(ds, 'datasets', None) or []:
            visit(child, depth + 1)

    visit(dataset, 0)
    return found


def format_skipped(records: Sequence[Tuple[str, str]]) -> str:
    """``"N samples skipped this epoch: file (reason) xK, ..."``."""
    per_file = Counter(records)
    parts = [f'{f} ({r})' + (f' x{n}' if n > 1 else '') for (f, r), n in list(per_file.items())[:MAX_LISTED]]
    if len(per_file) > MAX_LISTED:
        parts.append(f'... and {len(per_file) - MAX_LISTED} more file(s)')
    return f'{len(records)} samples skipped this epoch: ' + ', '.join(parts)


@HOOKS.register_module()
class SkippedSamplesHook(Hook):
    """Report the training samples that were skipped as unreadable, every epoch.

    Keeps ``train/skipped_samples`` (skipped so far this epoch) in the message hub, so the iteration logs
    and ``scalars.json`` show it, and at the end of each epoch logs ``N samples skipped this epoch:
    file (reason), ...`` (a warning when N > 0) and writes ``skipped_samples_epoch`` to the visualizer
    (``scalars.json``). Counts include samples skipped in DataLoader workers (see :class:`SkipLog`). Under DDP
    each rank reports its own samples.
    """
    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) so each logged iteration sees the count

    def __init__(self) -> None:
        self._offsets: Dict[str, int] = {}
        self._logs: List[SkipLog] = []

    def _records(self) -> List[Tuple[str, str]]:
        records = []
        for log in self._logs:
            records += log.read(self._offsets.get(log.path, 0))
        return records

    def before_train_epoch(self, runner) -> None:
        self._logs = find_skip_logs(runner.train_loop.dataloader.dataset)
        self._offsets = {log.path: log.size() for log in self._logs}
        runner.message_hub.update_scalar('train/skipped_samples', 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if any(log.size() != self._offsets.get(log.path, 0) for log in self._logs):
            runner.message_hub.update_scalar('train/skipped_samples', len(self._records()))

    def after_train_epoch(self, runner) -> None:
        records = self._records()
        runner.message_hub.update_scalar('train/skipped_samples', len(records))
        runner.visualizer.add_scalars({'skipped_samples_epoch': len(records), 'epoch': runner.epoch + 1},
                                      step=runner.iter)
        if records:
            runner.logger.warning(f'Epoch {runner.epoch + 1}: {format_skipped(records)}')
        else:
            runner.logger.info(f'Epoch {runner.epoch + 1}: 0 samples skipped this epoch')
