"""Frozen teachers for distillation-style pretraining (kept out of DDP, the optimiser and checkpoints by the
models that use them)."""
from .clip import CLIPTeacher, convert_clip_state_dict, load_clip_state_dict

__all__ = ['CLIPTeacher', 'convert_clip_state_dict', 'load_clip_state_dict']
