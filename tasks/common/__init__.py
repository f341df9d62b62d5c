"""Pieces shared by every task: optimiser wrappers, toy datasets."""
from backbones.registry import DATASETS

from .hooks import VideoVisualizationHook
from .optim_wrapper import AutocastOptimWrapper
from .toy_data import ToyVideoDataset

DATASETS.register_module(module=ToyVideoDataset)

__all__ = ['AutocastOptimWrapper', 'ToyVideoDataset', 'VideoVisualizationHook']
