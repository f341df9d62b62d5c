"""Datasets over the toy recognition data that generate it when it is missing: ``ToyVideoDataset`` (mmaction2's
``VideoDataset``) and ``ToyRepeatAugDataset`` (mmaction2's ``RepeatAugDataset`` behaviour, for pretraining)."""
from pathlib import Path
from typing import Any

from mmaction.datasets import RepeatAugDataset, VideoDataset
from mmaction.datasets.repeat_aug_dataset import get_type

from backbones.registry import DATASETS
from tasks.datasets.policy import RobustDatasetMixin

from .recognition import ensure_recognition

__all__ = ['ToyVideoDataset', 'ToyRepeatAugDataset']


@DATASETS.register_module()
class ToyVideoDataset(RobustDatasetMixin, VideoDataset):
    """mmaction2 ``VideoDataset`` that generates its toy recognition data when it is missing.

    Follows the bad input policy of :mod:`tasks.datasets.policy` (``on_error``, ``check_files``).

    Example config::

        root = 'data/toy_recognition'
        train_dataloader = dict(dataset=dict(
            type='ToyVideoDataset', ann_file=f'{root}/train_list.txt',
            toy=dict(root=root, num_train=400), data_prefix=dict(video=root), pipeline=[...]))

    Under ``torch.distributed`` only local rank 0 (``LOCAL_RANK``, else the global rank) of each
    node generates; the other ranks wait on a barrier and then check the folder. Generation is
    atomic, so several nodes sharing one file system are safe too (:func:`tasks.toy_data.cache.build_toy`).

    Args:
        ann_file (str): List file, normally ``<toy['root']>/train_list.txt`` or ``val_list.txt``.
        toy (dict): Keyword arguments of :func:`tasks.toy_data.recognition.ensure_recognition`; ``root`` is
            required.
        data_prefix (dict): ``dict(video=<toy['root']>)``.
        **kwargs: Other ``VideoDataset`` arguments (``pipeline``, ``test_mode``, ...) and those of
            :class:`tasks.datasets.policy.RobustDatasetMixin` (``on_error``, ``check_files``).
    """

    def __init__(self, ann_file: str, toy: dict, data_prefix: dict, **kwargs: Any) -> None:
        if not isinstance(toy, dict) or 'root' not in toy:
            raise ValueError(f'ToyVideoDataset needs toy=dict(root=..., ...) with the kwargs of ensure_recognition, '
                             f'got toy={toy!r}')
        toy = dict(toy)
        root = Path(toy.pop('root'))
        ensure_recognition(root, **toy)
        classes = (root / 'classes.txt').read_text().split()
        kwargs['metainfo'] = {'classes': classes, **(kwargs.get('metainfo') or {})}
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)


@DATASETS.register_module()
class ToyRepeatAugDataset(ToyVideoDataset):
    """Toy videos where each item is decoded once and yields ``num_repeats`` augmented clips (a list; batch it
    with ``collate_fn=dict(type='repeat_pseudo_collate')``), like mmaction2's ``RepeatAugDataset``.

    Args:
        num_repeats (int): Clips per video (VideoMAE ``num_sample``).
        sample_once (bool): Same frame indices for every repeat (VideoMAE: True, only the augmentation differs).
        **kwargs: ``ToyVideoDataset`` arguments; the pipeline must start with DecordInit, a sampler, DecordDecode.
    """

    def __init__(self, *args, num_repeats: int = 2, sample_once: bool = True, **kwargs):
        pipeline = kwargs.get('pipeline', [])
        if len(pipeline) < 3 or get_type(pipeline[0]) != 'DecordInit' or get_type(pipeline[2]) != 'DecordDecode':
            raise ValueError('ToyRepeatAugDataset needs a pipeline [DecordInit, <sampler>, DecordDecode, ...]')
        super().__init__(*args, **kwargs)
        self.num_repeats, self.sample_once = num_repeats, sample_once

    prepare_data = RepeatAugDataset.prepare_data
