"""Action recognition: classification head on the VideoViT clip embedding (mmaction2 recognizers)."""
from .head import VideoClsHead

__all__ = ['VideoClsHead']
