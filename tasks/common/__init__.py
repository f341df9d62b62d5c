"""Pieces shared by every task: optimiser wrappers and constructors, hooks, drawing, toy datasets."""
from backbones.registry import DATASETS

from .hooks import VideoVisualizationHook
from .layer_decay import LayerDecayOptimWrapperConstructor
from .optim_wrapper import AutocastOptimWrapper
from .toy_data import ToyVideoDataset

DATASETS.register_module(module=ToyVideoDataset)

__all__ = ['AutocastOptimWrapper', 'LayerDecayOptimWrapperConstructor', 'ToyVideoDataset', 'VideoVisualizationHook']
