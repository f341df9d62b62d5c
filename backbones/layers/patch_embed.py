import torch
from torch import nn


class PatchEmbed3D(nn.Module):
    """Cut a clip into tubelets of ``tubelet_size x patch_size x patch_size`` and embed each one.

    The parameter name ``proj`` matches the official VideoMAE V2 / UMT checkpoints
    (``patch_embed.proj.weight`` of shape ``[C, 3, tubelet, p, p]``).

    Args:
        patch_size (int): Spatial patch size p.
        tubelet_size (int): Temporal size of a tubelet (2 for VideoMAE V2, 1 for UMT).
        in_channels (int): Input channels.
        embed_dim (int): Token width C.
    """

    def __init__(self, patch_size: int = 16, tubelet_size: int = 2, in_channels: int = 3, embed_dim: int = 768):
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_channels, embed_dim, kernel_size=kernel, stride=kernel)

    def grid(self, t: int, h: int, w: int) -> tuple:
        """Token grid (T', H', W') for an input clip of T x H x W; fails on sizes that do not divide."""
        if t % self.tubelet_size or h % self.patch_size or w % self.patch_size:
            raise ValueError(f'clip of {t}x{h}x{w} (TxHxW) is not divisible into tubelets of '
                             f'{self.tubelet_size}x{self.patch_size}x{self.patch_size}')
        return t // self.tubelet_size, h // self.patch_size, w // self.patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> tokens (B, T'*H'*W', C) in (t, h, w) raster order."""
        self.grid(*x.shape[2:])
        # contiguous: a transposed view would keep the whole residual stream channel-first, and every
        # LayerNorm would copy it again (~6% of a ViT-B forward on CPU)
        return self.proj(x).flatten(2).transpose(1, 2).contiguous()
