"""Pieces shared by every task: optimiser wrappers and constructors, hooks, drawing, toy datasets."""
from backbones.registry import DATASETS

from .hooks import CurvesHook, EpochSeedHook, NonFiniteLossHook, VideoVisualizationHook
from .layer_decay import LayerDecayOptimWrapperConstructor
from .optim_wrapper import AutocastOptimWrapper
from .rawframes import CheckedRawFrameDecode, RawframeListDataset, RepeatAugRawframeListDataset
from .robust import (RepeatAugVideoListDataset, RobustDataset, RobustDatasetMixin, SkippedSamplesHook,
                     VideoListDataset)
from .runner import VideoFMRunner
from .toy_data import ToyVideoDataset

DATASETS.register_module(module=ToyVideoDataset)

__all__ = [
    'AutocastOptimWrapper', 'CurvesHook', 'EpochSeedHook', 'LayerDecayOptimWrapperConstructor', 'NonFiniteLossHook',
    'ToyVideoDataset', 'VideoFMRunner', 'VideoVisualizationHook',
    'RepeatAugVideoListDataset', 'RobustDataset', 'RobustDatasetMixin', 'SkippedSamplesHook', 'VideoListDataset',
    'CheckedRawFrameDecode', 'RawframeListDataset', 'RepeatAugRawframeListDataset'
]
