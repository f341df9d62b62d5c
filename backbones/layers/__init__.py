"""Video-specific layers; generic ones (DropPath, Mlp, trunc_normal_) come from ``timm.layers``."""
from .attention import Attention, Block
from .patch_embed import PatchEmbed3D
from .pos_embed import resample_pos_table, sincos_table

__all__ = ['Attention', 'Block', 'PatchEmbed3D', 'sincos_table', 'resample_pos_table']
