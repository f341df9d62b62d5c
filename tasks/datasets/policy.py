"""Bad input policy for video datasets: bad annotations fail at build time, unreadable videos are skipped
(and counted) in training and raise in testing.

Policy (README section)
-----------------------
Every VideoFM video dataset (``ToyVideoDataset``, ``VideoListDataset``, ``RepeatAugVideoListDataset``, the
rawframe lists ``RawframeListDataset`` / ``RepeatAugRawframeListDataset`` of :mod:`tasks.datasets.rawframes`,
and any dataset wrapped in ``RobustDataset``) takes ``on_error=None | 'skip' | 'raise'``. This module holds
the policy itself (errors, :class:`LoadErrorPolicy`, :class:`RobustDatasetMixin`); the annotation checks live
in :mod:`tasks.datasets.annotations`, the cross-process count of skipped samples in
:mod:`tasks.datasets.skip_log`, the datasets in :mod:`tasks.datasets.video_list` and
:mod:`tasks.datasets.rawframes`, and the per-epoch report in :class:`tasks.engine.hooks.SkippedSamplesHook`.

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
AVI cut anywhere from 2% to 99% of its bytes  mmaction2's ``DecordInit`` (``io.BytesIO``): **segfault**, the
(opencv-doc vtest / tree / Megamind.avi), a   process dies without a name; ``CheckedDecordInit`` (what the
fast-start mp4 cut at 2%                      datasets use): ``DamagedVideoError: truncated AVI ...`` from a
                                              header check, then opens by path (:mod:`.decoding`)
============================================  ==============================================================

mmaction2's ``VideoDataset.load_data_list`` itself fails on a 3-field row with ``ValueError: too many
values to unpack`` and on a bad label with ``invalid literal for int()``, both without file or line; it
accepts negative labels and labels ``>= num_classes`` (they fail later, in the loss).
"""
import logging
import os.path as osp
import re
from typing import Any, List, Optional

from mmaction.datasets import RawframeDataset, VideoDataset
from mmengine.logging import print_log

from .annotations import (AnnotationError, apply_annotation_policy, parse_rawframe_list, parse_video_list,
                          validate_data_list)
from .decoding import use_checked_decord
from .skip_log import SkipLog

__all__ = [
    'ON_ERROR', 'PROGRAMMING_ERRORS', 'UnreadableVideoError', 'describe_error', 'LoadErrorPolicy', 'sample_name',
    'RobustDatasetMixin', 'find_skip_logs'
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
    if filename is not None and text.startswith(f'{filename}: '):  # named once, by the caller
        text = text[len(filename) + 2:]
    if filename is not None and osp.isfile(filename) and osp.getsize(filename) == 0:
        text = f'empty file (0 bytes); {text}'
    elif re.match(r'Error reading \d+ bytes', text):
        text = f'cannot open the container (truncated, empty or not a video); {text}'
    text = f'{type(err).__name__}: {text}'
    return text if len(text) <= max_len else text[:max_len - 3] + '...'


class LoadErrorPolicy:
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


def sample_name(info: Any) -> str:
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
        self._policy = LoadErrorPolicy(on_error, max_consecutive_errors)
        self.on_error = on_error
        self.check_files = check_files
        super().__init__(*args, **kwargs)
        use_checked_decord(self.pipeline.transforms)  # decord segfaults on cut AVIs opened from memory

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
            name = sample_name(self.get_data_info(idx))
            self._policy.failed(err, name, self.test_mode)
            return None
        self._policy.ok()
        return data


def find_skip_logs(dataset: Any) -> List[SkipLog]:
    """Every :class:`SkipLog` in ``dataset`` and the datasets it wraps (Concat/Repeat/... wrappers)."""
    found, seen = [], set()

    def visit(ds: Any, depth: int) -> None:
        if ds is None or depth > 8:
            return
        log = getattr(ds, 'skip_log', None)
        if isinstance(log, SkipLog) and log.path not in seen:
            seen.add(log.path)
            found.append(log)
        visit(getattr(ds, 'dataset', None), depth + 1)
        for child in getattr(ds, 'datasets', None) or []:
            visit(child, depth + 1)

    visit(dataset, 0)
    return found
