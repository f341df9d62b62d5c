"""Datasets shared by every task, and the bad input policy they follow.

* :mod:`.annotations`: parsing and checking of annotation lists (video and rawframe lists, any loaded
  ``data_list``); every bad row is reported with its file, line and problem.
* :mod:`.policy`: the bad input policy (``on_error``, :class:`UnreadableVideoError`, :func:`describe_error`, the
  load-error policy, :class:`RobustDatasetMixin`, :func:`find_skip_logs`); its docstring is the policy's text.
* :mod:`.skip_log`: :class:`SkipLog`, the count of skipped samples shared with DataLoader workers.
* :mod:`.video_list`: ``VideoListDataset``, ``RepeatAugVideoListDataset``, ``RobustDataset`` (any dataset).
* :mod:`.rawframes`: folders of extracted frames: ``CheckedRawFrameDecode``, ``RawframeListDataset``,
  ``RepeatAugRawframeListDataset``.
* :mod:`.decoding`: ``CheckedDecordInit`` (container check, local files opened by path: decord segfaults on
  truncated AVIs opened from memory), put in place of ``DecordInit`` by every dataset here.
* :mod:`.transforms`: pipeline transforms shared by the tasks (``GenerateMask``).
* :mod:`.json_rows`: ``JsonRowsDataset``, the base of the datasets whose annotation file is a JSON list of objects
  (retrieval, QA): reading the list, media paths checked, the load-error policy.

Toy datasets that generate their own data live in :mod:`tasks.toy_data`.
"""
from .annotations import AnnotationError
from .decoding import CheckedDecordInit, DamagedVideoError, check_container
from .policy import RobustDatasetMixin, UnreadableVideoError, describe_error, find_skip_logs
from .rawframes import CheckedRawFrameDecode, RawframeListDataset, RepeatAugRawframeListDataset
from .skip_log import SkipLog
from .transforms import GenerateMask
from .video_list import RepeatAugVideoListDataset, RobustDataset, VideoListDataset

__all__ = [
    'AnnotationError', 'UnreadableVideoError', 'describe_error', 'find_skip_logs', 'RobustDatasetMixin', 'SkipLog',
    'VideoListDataset', 'RepeatAugVideoListDataset', 'RobustDataset', 'CheckedRawFrameDecode', 'RawframeListDataset',
    'RepeatAugRawframeListDataset', 'GenerateMask', 'CheckedDecordInit', 'DamagedVideoError', 'check_container'
]
