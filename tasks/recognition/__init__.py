"""Action recognition: classification head on the VideoViT clip embedding (mmaction2 recognizers), the
clip-consistent RandAugment of the fine-tuning recipe."""
from .head import VideoClsHead
from .transforms import VideoRandAugment

__all__ = ['VideoClsHead', 'VideoRandAugment']
