"""VideoViT: the one video transformer behind every VideoMAE V2 and UMT model and task in VideoFM."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from einops import rearrange
from mmengine.model import BaseModule
from timm.layers import trunc_normal_
from torch import nn
from torch.utils.checkpoint import checkpoint

from .pretrained import has_pretrained_cfg, init_from_pretrained
from .layers import Block, PatchEmbed3D
from .layers.pos_embed import resample_pos_table, video_pos_table
from .masking import mask_to_index
from .presets import get_preset
from .registry import MODELS

OUT_TYPES = ('pooled', 'featmap', 'tokens', 'intermediates')


def one_clip_per_sample(inputs: torch.Tensor) -> torch.Tensor:
    """``(B, 3, T, H, W)`` pretraining inputs from ``(B, 1, 3, T, H, W)`` (ActionDataPreprocessor's clip axis).

    Raises:
        ValueError: More than one clip per sample (pretraining pipelines sample ``num_clips=1``).
    """
    if inputs.dim() == 6:
        if inputs.shape[1] != 1:
            raise ValueError(f'pretraining takes one clip per sample (num_clips=1), got {inputs.shape[1]}')
        inputs = inputs.flatten(0, 1)
    return inputs


@MODELS.register_module()
class VideoViT(BaseModule):
    """Video Vision Transformer with the official VideoMAE V2 / UMT parameter names.

    Tokens come from non-overlapping ``tubelet x p x p`` tubelets, get a position table (the fixed
    sinusoid, regenerated for the input's token grid, or a learnable table resampled to it) and pass
    through pre-norm blocks. With ``visible_idx`` only the given tokens are encoded (masked pretraining).

    The API is timm's ``VisionTransformer``'s: :meth:`forward_features` returns tokens,
    :meth:`forward_intermediates` returns the blocks chosen at call time, :meth:`forward_head` pools,
    :meth:`set_grad_checkpointing` switches activation checkpointing. :meth:`forward` is a thin switch on
    ``out_type`` for configs.

    Args:
        arch (str, optional): A preset from :mod:`backbones.presets` (``small``, ``base``, ``large``,
            ``huge``, ``giant``, ``umt-base``, ``umt-large``). Sizes left as None take the preset's value,
            else ViT-B/16 at 16x224; every size given explicitly wins over the preset.
        img_size (int): Training resolution; sets the grid of a learnable position table.
        num_frames (int): Training clip length; same use as ``img_size``.
        patch_size (int): Spatial patch size.
        tubelet_size (int): Temporal tubelet size (2: VideoMAE V2, 1: UMT).
        in_channels (int): Input channels.
        embed_dim (int): Token width C.
        depth (int): Number of blocks L.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP hidden width / C.
        qkv_bias (bool): Learn q and v biases.
        head_dim (int, optional): Per-head width (default C / heads).
        init_values (float): Layer-scale init; 0 disables it.
        cos_attn (bool): Cosine attention.
        drop_rate (float): Dropout after the attention projection and in the MLP.
        attn_drop_rate (float): Attention dropout.
        drop_path_rate (float): Stochastic depth, increasing linearly from 0 to this value over the blocks.
        norm_eps (float): LayerNorm epsilon.
        use_mean_pooling (bool): Official ``use_mean_pooling``: no final ``norm`` on tokens and ``fc_norm``
            on their mean. If False, tokens get ``norm`` and the pooled output is their plain mean.
        pos_embed (str): ``'sincos'`` (fixed, not saved) or ``'learnable'`` (a saved ``pos_embed``).
        pos_ref_grid (tuple, optional): (T', H', W') the sinusoid was pretrained on. If given, the table is
            that grid's, resampled to the input grid (UMT; the ``umt-*`` presets set (8, 14, 14)); if None, the
            1-D table over the input's tokens (VideoMAE V2). A learnable table starts from the same table at
            the training grid.
        out_type (str): What :meth:`forward` returns: ``'pooled'`` (B, C), ``'featmap'`` (B, C, T', H', W'),
            ``'tokens'`` (B, N, C) or ``'intermediates'`` (list of (B, N, C), see ``out_indices``).
        out_indices (Sequence[int]): Blocks whose outputs ``out_type='intermediates'`` returns, in this order
            (negative counts from the end; out of range raises); used only there. In code, call
            :meth:`forward_intermediates` with the blocks you need.
        with_cp (bool): Activation checkpointing during training (:meth:`set_grad_checkpointing`).
        cp_interval (int): With checkpointing, checkpoint every ``cp_interval``-th block (1 = all).
        frozen_stages (int): -1 trains everything; k >= 0 freezes the patch embedding and blocks[:k].
        init_cfg (dict, optional): MMEngine init config, e.g. ``dict(type='Pretrained', checkpoint=PATH)``.
    """

    def __init__(self, arch: Optional[str] = None, *, img_size: Optional[int] = None,
                 num_frames: Optional[int] = None, patch_size: Optional[int] = None,
                 tubelet_size: Optional[int] = None, in_channels: int = 3, embed_dim: Optional[int] = None,
                 depth: Optional[int] = None, num_heads: Optional[int] = None, mlp_ratio: Optional[float] = None,
                 qkv_bias: bool = True,
                 head_dim: Optional[int] = None, init_values: float = 0., cos_attn: bool = False,
                 drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.,
                 norm_eps: float = 1e-6, use_mean_pooling: bool = True, pos_embed: str = 'sincos',
                 pos_ref_grid: Optional[Sequence[int]] = None, out_type: str = 'pooled',
                 out_indices: Sequence[int] = (-1,), with_cp: bool = False, cp_interval: int = 1,
                 frozen_stages: int = -1, init_cfg: Optional[Union[dict, List[dict]]] = None, **overrides):
        super().__init__(init_cfg=init_cfg)
        if overrides:
            raise TypeError(f'VideoViT got unknown arguments {sorted(overrides)}')
        # sizes: ViT-B/16 at 16x224 by default, then the preset, then every size given explicitly
        cfg = dict(img_size=224, num_frames=16, patch_size=16, tubelet_size=2, embed_dim=768, depth=12,
                   num_heads=12, mlp_ratio=4., pos_ref_grid=None)
        if arch is not None:
            cfg.update(get_preset(arch))
        explicit = dict(img_size=img_size, num_frames=num_frames, patch_size=patch_size, tubelet_size=tubelet_size,
                        embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                        pos_ref_grid=pos_ref_grid)
        cfg.update({k: v for k, v in explicit.items() if v is not None})
        if out_type not in OUT_TYPES:
            raise ValueError(f'out_type must be one of {OUT_TYPES}, got {out_type!r}')
        if pos_embed not in ('sincos', 'learnable'):
            raise ValueError(f"pos_embed must be 'sincos' or 'learnable', got {pos_embed!r}")
        if cp_interval < 1:
            raise ValueError(f'cp_interval must be >= 1, got {cp_interval}')
        self.arch = arch
        self.embed_dim = cfg['embed_dim']
        self.depth = cfg['depth']
        self.patch_size = cfg['patch_size']
        self.tubelet_size = cfg['tubelet_size']
        if not -1 <= frozen_stages <= self.depth:
            raise ValueError(f'frozen_stages must be in [-1, {self.depth}], got {frozen_stages}')
        self.out_type = out_type
        bad = [i for i in out_indices if not -self.depth <= i < self.depth]
        if bad:
            raise ValueError(f'out_indices {bad} out of range for depth {self.depth}')
        self.out_indices = tuple(out_indices)  # as configured; resolved at call time (requested order kept)
        self.cp_interval = cp_interval
        self.set_grad_checkpointing(with_cp)
        self.frozen_stages = frozen_stages
        self.pos_ref_grid = tuple(cfg['pos_ref_grid']) if cfg['pos_ref_grid'] is not None else None

        self.patch_embed = PatchEmbed3D(self.patch_size, self.tubelet_size, in_channels, self.embed_dim)
        # the grid of the configured training shape; a learnable table is stored at this grid
        self.default_grid = self.patch_embed.grid(cfg['num_frames'], cfg['img_size'], cfg['img_size'])
        if pos_embed == 'learnable':
            n = self.default_grid[0] * self.default_grid[1] * self.default_grid[2]
            self.pos_embed = nn.Parameter(torch.empty(1, n, self.embed_dim))  # on the default device (meta ok)
            with torch.no_grad():
                # the fixed table this model would use at its training shape (stretched from pos_ref_grid)
                self.pos_embed.copy_(video_pos_table(self.default_grid, self.embed_dim, self.pos_ref_grid)[None])
        else:
            self.pos_embed = None
        self.pos_drop = nn.Dropout(drop_rate)

        dpr = [drop_path_rate * i / max(self.depth - 1, 1) for i in range(self.depth)]  # linear, as official
        self.blocks = nn.ModuleList([
            Block(self.embed_dim, cfg['num_heads'], cfg['mlp_ratio'], init_values=init_values, drop=drop_rate,
                  drop_path=dpr[i], norm_eps=norm_eps, qkv_bias=qkv_bias, head_dim=head_dim,
                  attn_drop=attn_drop_rate, cos_attn=cos_attn) for i in range(self.depth)
        ])
        self.use_mean_pooling = use_mean_pooling
        self.norm = nn.Identity() if use_mean_pooling else nn.LayerNorm(self.embed_dim, eps=norm_eps)
        self.fc_norm = nn.LayerNorm(self.embed_dim, eps=norm_eps) if use_mean_pooling else nn.Identity()
        self.apply(self._init_weights)
        self._freeze_stages()

    # ------------------------------------------------------------------------------------------ init
    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        """A ``Pretrained`` init_cfg loads through :func:`backbones.pretrained.init_from_pretrained`, which
        converts every official format and fails on a mismatched encoder; anything else is MMEngine's."""
        if not has_pretrained_cfg(self.init_cfg):
            return super().init_weights()
        init_from_pretrained(self, self.init_cfg)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed, *self.blocks[:self.frozen_stages]]
        for module in frozen:
            module.eval()
            for p in module.parameters():
                p.requires_grad = False
        if self.pos_embed is not None:
            self.pos_embed.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    # ------------------------------------------------------------------------- optimiser interface
    @property
    def num_layers(self) -> int:
        """Number of blocks L; layer ids run from 0 (embedding) to L + 1 (everything after the blocks)."""
        return self.depth

    def no_weight_decay(self) -> set:
        """Names of parameters (relative to this module) that get no weight decay besides 1-D ones."""
        return {'pos_embed'} if self.pos_embed is not None else set()

    def layer_ids(self) -> Dict[str, int]:
        """Map every parameter name (relative to this module) to its layer id for layer-wise lr decay.

        Embedding (patch embed, position table) -> 0, block i -> i + 1, final norms -> L + 1; taken from
        module membership, not from parsing names.
        """
        ids = {}
        for name, _ in self.patch_embed.named_parameters(prefix='patch_embed'):
            ids[name] = 0
        if self.pos_embed is not None:
            ids['pos_embed'] = 0
        for i, blk in enumerate(self.blocks):
            for name, _ in blk.named_parameters(prefix=f'blocks.{i}'):
                ids[name] = i + 1
        for name, _ in self.named_parameters():
            ids.setdefault(name, self.depth + 1)
        return ids

    # ------------------------------------------------------------------------------------ forward
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Activation checkpointing of the blocks during training (every ``cp_interval``-th block); outputs
        and gradients are unchanged."""
        self.grad_checkpointing = enable

    @property
    def with_cp(self) -> bool:
        """The config name of :attr:`grad_checkpointing`."""
        return self.grad_checkpointing

    @with_cp.setter
    def with_cp(self, enable: bool) -> None:
        self.set_grad_checkpointing(enable)

    def pos_table(self, grid: Tuple[int, int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Position table (1, N, C) for a token grid: the learnable table resampled to it, or the fixed
        sinusoid (cached, see :func:`~backbones.layers.pos_embed.video_pos_table`)."""
        if self.pos_embed is not None:
            table = resample_pos_table(self.pos_embed[0], self.default_grid, grid)
            return table[None].to(dtype)
        return video_pos_table(grid, self.embed_dim, self.pos_ref_grid, dtype, device)[None]

    def embed(self, x: torch.Tensor, visible_idx: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Clip (B, 3, T, H, W) -> position-embedded tokens (B, N, C), or (B, Nv, C) for ``visible_idx``
        (B, Nv) int64 indices into the (t, h, w) raster of tokens."""
        grid = self.patch_embed.grid(*x.shape[2:])
        if visible_idx is None:
            tokens = self.patch_embed(x)
            return self.pos_drop(tokens + self.pos_table(grid, tokens.dtype, tokens.device))
        # Project only the visible tubelets: the tubelet convolution (kernel = stride) is a linear map of each
        # flattened (C, t, p, p) tubelet, so gather those first and apply it as a matmul.
        tubelets = rearrange(x, 'b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)',
                             pt=self.tubelet_size, ph=self.patch_size, pw=self.patch_size)
        tubelets = _gather_tokens(tubelets, visible_idx)
        proj = self.patch_embed.proj
        tokens = nn.functional.linear(tubelets, proj.weight.flatten(1), proj.bias)
        pos = self.pos_table(grid, tokens.dtype, tokens.device).expand(x.shape[0], -1, -1)
        return self.pos_drop(tokens + _gather_tokens(pos, visible_idx))

    def _run_block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        blk = self.blocks[i]
        if self.grad_checkpointing and self.training and x.requires_grad and i % self.cp_interval == 0:
            return checkpoint(blk, x, use_reentrant=False)
        return blk(x)

    def forward_features(self, x: torch.Tensor, visible_idx: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode a clip: embedding, every block, final ``norm`` (Identity with ``use_mean_pooling``).

        Args:
            x (Tensor): (B, 3, T, H, W).
            visible_idx (Tensor, optional): (B, Nv) indices of the tokens to encode (masked encoding); all if None.

        Returns:
            Tensor: tokens (B, N, C), or (B, Nv, C) with ``visible_idx``.
        """
        x = self.embed(x, visible_idx)
        for i in range(len(self.blocks)):
            x = self._run_block(i, x)
        return self.norm(x)

    def _take_indices(self, indices: Union[None, int, Sequence[int]]) -> List[int]:
        """Block indices in the requested order (duplicates kept): None = every block, an int n = the last n,
        a sequence = those blocks (negative counts from the end); out of range raises."""
        depth = len(self.blocks)
        if indices is None:
            return list(range(depth))
        if isinstance(indices, int):
            if not 0 < indices <= depth:
                raise ValueError(f'indices={indices}: take the last 1..{depth} blocks')
            return list(range(depth - indices, depth))
        bad = [i for i in indices if not -depth <= i < depth]
        if bad:
            raise ValueError(f'block indices {bad} out of range for depth {depth}')
        return [i % depth for i in indices]

    def forward_intermediates(self, x: torch.Tensor, indices: Union[None, int, Sequence[int]] = None,
                              visible_idx: Optional[torch.Tensor] = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = 'NLC',
                              intermediates_only: bool = False):
        """Encode a clip and return the outputs of chosen blocks (timm's ``forward_intermediates``).

        Args:
            x (Tensor): (B, 3, T, H, W).
            indices (int | Sequence[int], optional): The last n blocks for an int, those blocks in this order
                (duplicates kept, negative counts from the end) for a sequence, every block for None.
            visible_idx (Tensor, optional): (B, Nv) token indices for masked encoding.
            norm (bool): Pass each intermediate through the final ``norm`` (Identity with
                ``use_mean_pooling``, as timm's ``norm`` with ``fc_norm``).
            stop_early (bool): Run no block after the last one asked for; the returned final tokens are then
                those of that block.
            output_fmt (str): ``'NLC'`` tokens (B, N, C) or ``'NCTHW'`` feature maps (B, C, T', H', W') (all
                tokens only).
            intermediates_only (bool): Return only the list.

        Returns:
            list[Tensor] with ``intermediates_only``, else (final tokens (B, N, C) after ``norm``, list).
        """
        if output_fmt not in ('NLC', 'NCTHW'):
            raise ValueError(f"output_fmt must be 'NLC' or 'NCTHW', got {output_fmt!r}")
        if output_fmt == 'NCTHW' and visible_idx is not None:
            raise ValueError("output_fmt='NCTHW' needs all tokens; got visible_idx")
        take = self._take_indices(indices)
        last = max(take) if stop_early and take else len(self.blocks) - 1
        grid = self.patch_embed.grid(*x.shape[2:])
        x = self.embed(x, visible_idx)
        outs = {}
        for i in range(last + 1):
            x = self._run_block(i, x)
            if i in take:
                outs[i] = self.norm(x) if norm else x
        intermediates = [outs[i] for i in take]
        if output_fmt == 'NCTHW':
            intermediates = [self.to_featmap(y, grid) for y in intermediates]
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(self, indices: Union[int, Sequence[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> List[int]:
        """Drop the blocks after the last one in ``indices`` (and ``norm`` / ``fc_norm`` if asked), for a
        model used only through :meth:`forward_intermediates`. Returns the kept block indices."""
        take = self._take_indices(indices)
        self.blocks = self.blocks[:max(take) + 1]
        self.depth = len(self.blocks)
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.fc_norm = nn.Identity()
        return take

    def to_featmap(self, tokens: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
        """Tokens (B, T'*H'*W', C) of the full grid -> feature map (B, C, T', H', W')."""
        t, h, w = grid
        return rearrange(tokens, 'b (t h w) c -> b c t h w', t=t, h=h, w=w)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) -> their mean (B, C)."""
        return tokens.mean(1)

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) -> clip embedding (B, C): :meth:`pool`, then ``fc_norm`` (the classifier itself is
        the task's head, e.g. ``VideoClsHead``)."""
        return self.fc_norm(self.pool(tokens))

    def forward(self, x: torch.Tensor, visible_idx: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None, num_visible: Optional[int] = None):
        """Encode a clip (B, 3, T, H, W) and return what ``out_type`` asks for (see the class docstring).

        Masked encoding: either ``visible_idx`` (B, Nv) token indices, or a bool ``mask`` (B, N) with True for
        masked tokens (plus ``num_visible`` to avoid a host sync, see :func:`~backbones.masking.mask_to_index`).
        """
        if mask is not None:
            if visible_idx is not None:
                raise ValueError('pass either visible_idx or mask, not both')
            visible_idx = mask_to_index(mask, num_visible)
        if self.out_type == 'intermediates':
            return self.forward_intermediates(x, self.out_indices, visible_idx, stop_early=True,
                                              intermediates_only=True)
        tokens = self.forward_features(x, visible_idx)
        if self.out_type == 'tokens':
            return tokens
        if self.out_type == 'pooled':
            return self.forward_head(tokens)
        if visible_idx is not None:
            raise ValueError("out_type='featmap' needs all tokens; got visible_idx")
        return self.to_featmap(tokens, self.patch_embed.grid(*x.shape[2:]))


def _gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, N, C) gathered at (B, M) token indices -> (B, M, C)."""
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))
