"""Temporal adapters inside a frozen :class:`~backbones.video_vit.VideoViT` (AdaTAD's temporal-informative adapter).

End-to-end temporal action detection (``tasks/tad/end_to_end.py``) runs a long window of frames through the
encoder as a batch of 16-frame chunks; the encoder stays frozen and only small adapters after chosen blocks
train. An adapter (:class:`TemporalAdapter`) is a bottleneck on every token::

    h = GELU(down(x))                                   (B*n, t*h*w, C) -> (B*n, t*h*w, C/4)
    h = h + pw(dw(h))    dw: depthwise Conv1d k=3 along time over the WHOLE window (n chunks * t tokens),
                         pw: 1x1 Conv1d; one sequence per spatial position (B*h*w, C/4, n*t)
    y = x + gamma * up(h)                               up zero-initialised: a fresh adapter is the identity

so the chunks of one window exchange information only through the adapters (the attention stays within a
chunk, as the encoder was pretrained). This is OpenTAD's ``Adapter`` of ``vit_adapter.py`` (AdaTAD): same
layers, initialisation (down: trunc-normal 0.02; dw / pw: normal(0, sqrt(2 / fan)); up: zeros; gamma: ones)
and placement (after the block, inside the block's activation checkpoint).

:class:`AdapterVideoViT` is ``VideoViT`` plus ``adapters.{i}`` modules after blocks ``i`` (new keys: the
official checkpoint keys are unchanged, so official checkpoints load into it as they are, only the adapters
are reported missing), and freezing: every encoder parameter gets ``requires_grad=False`` except the adapters
and, with ``train_last_blocks=N``, the last N blocks.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
from einops import rearrange
from timm.layers import trunc_normal_
from torch import nn
from torch.utils.checkpoint import checkpoint

from .registry import MODELS
from .video_vit import VideoViT

__all__ = ['TemporalAdapter', 'AdapterVideoViT']


class TemporalAdapter(nn.Module):
    """Bottleneck adapter with a depthwise temporal convolution over a whole window of chunks.

    Args:
        embed_dim (int): Token width C.
        mlp_ratio (float): Bottleneck width / C (AdaTAD: 0.25).
        kernel_size (int): Temporal kernel of the depthwise convolution (3).
        init_gamma (float): Initial output scale (AdaTAD: 1; the zero up-projection already makes it the identity).
    """

    def __init__(self, embed_dim: int, mlp_ratio: float = 0.25, kernel_size: int = 3, init_gamma: float = 1.0):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'TemporalAdapter: kernel_size must be odd and >= 1, got {kernel_size}')
        hidden = int(embed_dim * mlp_ratio)
        if hidden < 1:
            raise ValueError(f'TemporalAdapter: embed_dim {embed_dim} x mlp_ratio {mlp_ratio} < 1 channel')
        self.down_proj = nn.Linear(embed_dim, hidden)
        self.act = nn.GELU()
        self.dwconv = nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden)
        self.conv = nn.Conv1d(hidden, hidden, 1)
        self.up_proj = nn.Linear(hidden, embed_dim)
        self.gamma = nn.Parameter(torch.full((1,), float(init_gamma)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        trunc_normal_(self.down_proj.weight, std=.02)
        nn.init.zeros_(self.down_proj.bias)
        nn.init.normal_(self.dwconv.weight, 0., math.sqrt(2. / self.dwconv.kernel_size[0]))
        nn.init.zeros_(self.dwconv.bias)
        nn.init.normal_(self.conv.weight, 0., math.sqrt(2. / self.conv.in_channels))
        nn.init.zeros_(self.conv.bias)
        nn.init.zeros_(self.up_proj.weight)  # a fresh adapter is the identity
        nn.init.zeros_(self.up_proj.bias)

    def forward(self, x: torch.Tensor, grid: Tuple[int, int, int], num_chunks: int = 1) -> torch.Tensor:
        """Args:
            x (Tensor): Tokens ``(B * n, t * h * w, C)`` of ``n`` consecutive chunks per window, chunk-major
                (chunk ``k`` of window ``b`` is row ``b * n + k``), tokens in (t, h, w) raster order.
            grid (tuple): ``(t, h, w)`` token grid of one chunk.
            num_chunks (int): ``n``: the temporal convolution runs over ``n * t`` steps.

        Returns:
            Tensor: ``(B * n, t * h * w, C)``.
        """
        t, h, w = grid
        if x.shape[0] % num_chunks or x.shape[1] != t * h * w:
            raise ValueError(f'TemporalAdapter: tokens {tuple(x.shape)} do not hold {num_chunks} chunks per window '
                             f'of grid {tuple(grid)}')
        y = self.act(self.down_proj(x))                                                # (B*n, t*h*w, c)
        seq = rearrange(y, '(b n) (t h w) c -> (b h w) c (n t)', n=num_chunks, t=t, h=h, w=w)
        seq = self.conv(self.dwconv(seq))
        y = y + rearrange(seq, '(b h w) c (n t) -> (b n) (t h w) c', n=num_chunks, t=t, h=h, w=w)
        return x + self.gamma * self.up_proj(y)


@MODELS.register_module()
class AdapterVideoViT(VideoViT):
    """A :class:`VideoViT` with :class:`TemporalAdapter` s after chosen blocks and a frozen encoder.

    Everything of ``VideoViT`` (sizes, presets, checkpoint loading through ``init_cfg``, ``forward_features``,
    ``forward_intermediates``, ``with_cp``) works as there; the adapters see the token grid of the input and the
    number of chunks per window given to :meth:`forward_features` (``num_chunks``; 1: each clip on its own).

    Args:
        adapter_indices (Sequence[int], optional): Blocks followed by an adapter (negative counts from the end);
            None: every block (AdaTAD ViT-g 768x160); ``range(20, 40)``: AdaTAD ViT-g 1536x224.
        adapter_cfg (dict, optional): :class:`TemporalAdapter` arguments besides ``embed_dim``.
        freeze (bool): Freeze every parameter that is not an adapter's (or in the last ``train_last_blocks``).
        train_last_blocks (int): With ``freeze``, also train the last N blocks (and the final norms).
        **kwargs: :class:`VideoViT` arguments.
    """

    def __init__(self, *args, adapter_indices: Optional[Sequence[int]] = None, adapter_cfg: Optional[dict] = None,
                 freeze: bool = True, train_last_blocks: int = 0, **kwargs):
        if kwargs.get('frozen_stages', -1) != -1:
            raise ValueError('AdapterVideoViT freezes through freeze / train_last_blocks; leave frozen_stages=-1')
        self.freeze, self.train_last_blocks = freeze, int(train_last_blocks)
        self._adapter_ready = False
        super().__init__(*args, **kwargs)
        if not 0 <= self.train_last_blocks <= self.depth:
            raise ValueError(f'train_last_blocks must be in [0, {self.depth}], got {train_last_blocks}')
        indices = range(self.depth) if adapter_indices is None else list(adapter_indices)
        bad = [i for i in indices if not -self.depth <= i < self.depth]
        if bad:
            raise ValueError(f'adapter_indices {bad} out of range for depth {self.depth}')
        self.adapter_indices = sorted({i % self.depth for i in indices})
        self.adapters = nn.ModuleDict({str(i): TemporalAdapter(self.embed_dim, **(adapter_cfg or {}))
                                       for i in self.adapter_indices})
        self._ctx = None  # ((t, h, w), num_chunks) of the forward pass in progress
        self._adapter_ready = True
        self._freeze_stages()

    # ---------------------------------------------------------------------------------------- freezing
    def trainable_prefixes(self) -> Tuple[str, ...]:
        """Parameter-name prefixes (relative to this module) that train."""
        keep = ['adapters.']
        if self.train_last_blocks:
            keep += [f'blocks.{i}.' for i in range(self.depth - self.train_last_blocks, self.depth)]
            keep += ['norm.', 'fc_norm.']
        return tuple(keep)

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        if not self.freeze or not getattr(self, '_adapter_ready', False):
            return
        keep = self.trainable_prefixes()
        for name, p in self.named_parameters():
            p.requires_grad_(name.startswith(keep))

    def layer_ids(self):
        """:meth:`VideoViT.layer_ids`, with adapter ``i`` in block ``i``'s layer."""
        ids = super().layer_ids()
        for i in self.adapter_indices:
            for name, _ in self.adapters[str(i)].named_parameters(prefix=f'adapters.{i}'):
                ids[name] = i + 1
        return ids

    # ------------------------------------------------------------------------------------------ forward
    def embed(self, x: torch.Tensor, visible_idx: Optional[torch.Tensor] = None) -> torch.Tensor:
        if visible_idx is not None and len(self.adapters):
            raise ValueError('AdapterVideoViT: temporal adapters need all tokens; masked encoding is not supported')
        grid = self.patch_embed.grid(*x.shape[2:])
        chunks = self._ctx[1] if self._ctx is not None else 1
        self._ctx = (grid, chunks)
        return super().embed(x, visible_idx)

    def _block_and_adapter(self, i: int, x: torch.Tensor, grid: Tuple[int, int, int], chunks: int) -> torch.Tensor:
        x = self.blocks[i](x)
        if str(i) in self.adapters:
            x = self.adapters[str(i)](x, grid, chunks)
        return x

    def _run_block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        grid, chunks = self._ctx  # passed on: a checkpointed block is recomputed after the forward pass
        trainable = x.requires_grad or any(p.requires_grad for p in self.blocks[i].parameters()) or (
            str(i) in self.adapters and any(p.requires_grad for p in self.adapters[str(i)].parameters()))
        if self.grad_checkpointing and self.training and trainable and torch.is_grad_enabled() \
                and i % self.cp_interval == 0:
            return checkpoint(self._block_and_adapter, i, x, grid, chunks, use_reentrant=False)
        return self._block_and_adapter(i, x, grid, chunks)

    def forward_features(self, x: torch.Tensor, visible_idx: Optional[torch.Tensor] = None,
                         num_chunks: int = 1) -> torch.Tensor:
        """Encode ``B * n`` chunks ``(B * n, 3, T, H, W)`` (``n = num_chunks`` consecutive chunks per window).

        Returns:
            Tensor: tokens ``(B * n, N, C)``.
        """
        if num_chunks < 1 or x.shape[0] % num_chunks:
            raise ValueError(f'AdapterVideoViT: {x.shape[0]} clips are not windows of num_chunks={num_chunks}')
        self._ctx = (None, num_chunks)
        try:
            return super().forward_features(x, visible_idx)
        finally:
            self._ctx = None
