"""Video list datasets under the bad input policy of :mod:`tasks.datasets.policy`: mmaction2's Kinetics-style
``path label`` lists (:class:`VideoListDataset`, :class:`RepeatAugVideoListDataset`) and a wrapper that puts
any other dataset under the policy (:class:`RobustDataset`)."""
import copy
from typing import Any, Optional

import numpy as np
from mmaction.datasets import RepeatAugDataset, VideoDataset
from torch.utils.data import Dataset

from backbones.registry import DATASETS

from .annotations import apply_annotation_policy, validate_data_list
from .decoding import use_checked_decord
from .policy import LoadErrorPolicy, RobustDatasetMixin, UnreadableVideoError, sample_name
from .skip_log import SkipLog

__all__ = ['VideoListDataset', 'RepeatAugVideoListDataset', 'RobustDataset']


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
        self._policy = LoadErrorPolicy(on_error, max_consecutive_errors)
        self.on_error, self.max_refetch = on_error, max_refetch
        self.test_mode = bool(getattr(self.dataset, 'test_mode', False))
        if hasattr(getattr(self.dataset, 'pipeline', None), 'transforms'):
            use_checked_decord(self.dataset.pipeline.transforms)
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
                self._policy.failed(err, sample_name(self._infos[inner]), self.test_mode)
                idx = np.random.randint(0, len(self))
                continue
            self._policy.ok()
            return data
        raise UnreadableVideoError(f'no loadable sample found after {self.max_refetch} tries')
