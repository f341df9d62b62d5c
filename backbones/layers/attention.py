from typing import Optional

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention with the official VideoMAE V2 / UMT parameterisation.

    ``qkv`` has no bias; optional separate ``q_bias`` and ``v_bias`` (K gets none), so official
    ``attn.qkv.weight``, ``attn.q_bias``, ``attn.v_bias`` load by name. Attention runs through
    :func:`torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient kernels where
    available); no attention map is materialised.

    Args:
        dim (int): Token width C.
        num_heads (int): Number of heads.
        qkv_bias (bool): Learn ``q_bias`` and ``v_bias``.
        head_dim (int, optional): Per-head width; default ``dim // num_heads``.
        attn_drop (float): Dropout on attention weights (training only).
        proj_drop (float): Dropout after the output projection.
        cos_attn (bool): Cosine attention with a learnable, clamped per-head ``scale``
            (Swin V2 style, available in the official code).
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, head_dim: Optional[int] = None,
                 attn_drop: float = 0., proj_drop: float = 0., cos_attn: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim or dim // num_heads
        inner = self.head_dim * num_heads
        self.qkv = nn.Linear(dim, inner * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(inner))
            self.v_bias = nn.Parameter(torch.zeros(inner))
        else:
            self.q_bias = self.v_bias = None
        self.cos_attn = cos_attn
        if cos_attn:
            self.scale = nn.Parameter(torch.log(10 * torch.ones(num_heads, 1, 1)))
        self.attn_drop = attn_drop
        self.proj = nn.Linear(inner, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) -> (B, N, C)."""
        b, n, _ = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        dropout = self.attn_drop if self.training else 0.
        if self.cos_attn:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
            scale = torch.clamp(self.scale, max=4.6052).exp()  # log(100), as official
            x = F.scaled_dot_product_attention(q * scale.to(q.dtype), k, v, dropout_p=dropout, scale=1.0)
        else:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        x = x.transpose(1, 2).reshape(b, n, -1)
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    """Pre-norm transformer block; parameter names match the official checkpoints
    (``norm1``, ``attn``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``, ``gamma_1``, ``gamma_2``).

    Args:
        dim (int): Token width.
        num_heads (int): Attention heads.
        mlp_ratio (float): Hidden width of the MLP relative to ``dim``.
        init_values (float): Layer-scale init; 0 disables layer scale (released checkpoints).
        drop_path (float): Stochastic depth rate of this block.
        norm_eps (float): LayerNorm epsilon.
        **attn_kwargs: Passed to :class:`Attention`.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4., init_values: float = 0.,
                 drop: float = 0., drop_path: float = 0., norm_eps: float = 1e-6, **attn_kwargs):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, proj_drop=drop, **attn_kwargs)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)
        if init_values > 0:
            self.gamma_1 = nn.Parameter(init_values * torch.ones(dim))
            self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gamma_1 is None:
            x = x + self.drop_path(self.attn(self.norm1(x)))
            return x + self.drop_path(self.mlp(self.norm2(x)))
        x = x + self.drop_path(self.gamma_1 * self.attn(self.norm1(x)))
        return x + self.drop_path(self.gamma_2 * self.mlp(self.norm2(x)))
