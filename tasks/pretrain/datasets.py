"""Repeated augmentation on the toy data: mmaction2's ``RepeatAugDataset`` behaviour on ``ToyVideoDataset``."""
from mmaction.datasets import RepeatAugDataset
from mmaction.datasets.repeat_aug_dataset import get_type

from backbones.registry import DATASETS
from tasks.common.toy_data import ToyVideoDataset


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
