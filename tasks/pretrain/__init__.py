"""Pretraining data: mask transforms (:mod:`.transforms`) and repeated-augmentation toy data (:mod:`.datasets`).

The models draw their masks on the device by default; the transforms are for pipelines that want them on the
host (the models then read ``encoder_mask`` / ``decoder_mask`` from the data samples). Dense (VideoMAE:
``SampleFrames(clip_len=16, frame_interval=4)``) and TSN sparse (UMT: ``UniformSample(clip_len=8)``) sampling,
``MultiScaleCrop`` and repeated augmentation (``RepeatAugDataset`` + ``repeat_pseudo_collate``) are mmaction2's.
"""
from .datasets import ToyRepeatAugDataset
from .transforms import GenerateMask

__all__ = ['GenerateMask', 'ToyRepeatAugDataset']
