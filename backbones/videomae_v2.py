"""VideoMAE V2 pretraining with dual masking, as an MMEngine model wrapping :class:`VideoViT`.

Flow for a clip (B, 3, T, H, W) with N tokens, laid out like mae's ``models_mae.py``:

1. :meth:`~VideoMAEv2Pretrainer.forward_encoder`: encoder mask (tube, ratio .9) -> ``vis_idx`` (B, Nv); only
   those tubelets are embedded and encoded.
2. decoder mask (running cell, ratio .5) -> ``query_idx`` (B, Nq): the tokens the decoder reconstructs.
   Without a decoder mask (VideoMAE v1) the queries are all encoder-masked tokens.
3. :meth:`~VideoMAEv2Pretrainer.forward_decoder`: decoder input ``[encoder_to_decoder(encoded) + pos[vis_idx],
   mask_token + pos[query_idx]]``; only the query outputs go through ``decoder.norm`` and ``decoder.head``.
4. :meth:`~VideoMAEv2Pretrainer.forward_loss`: MSE against :func:`pixel_targets` at the queries that the
   encoder did not see, summed over the batch and divided by their number (as the official engine);
   :meth:`~VideoMAEv2Pretrainer.loss` returns it as ``loss_pix``.

Masks come from the data pipeline (``encoder_mask`` / ``decoder_mask`` in the data samples' metainfo, see
:mod:`tasks.datasets.transforms`) or, by default, are drawn on the device here; counts come from the ratios so
nothing synchronises with the host.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.utils.checkpoint
from einops import rearrange
from mmengine.model import BaseModel
from torch import nn

from .pretrained import has_pretrained_cfg, init_from_pretrained
from .layers import Block
from .layers.pos_embed import sincos_table
from .masking import make_mask, mask_to_index, num_masked
from .registry import MODELS
from .video_vit import VideoViT, _gather_tokens, one_clip_per_sample

__all__ = ['VideoMAEv2Pretrainer', 'pixel_targets', 'DECODER_PRESETS']

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# encoder arch -> official decoder (width, heads); depth 4 everywhere
DECODER_PRESETS = {
    'small': (192, 3),
    'base': (384, 6),
    'large': (512, 8),
    'huge': (512, 8),
    'giant': (512, 8),
}


def pixel_targets(videos: torch.Tensor, tubelet_size: int, patch_size: int, normalize: bool = True,
                  eps: float = 1e-6) -> torch.Tensor:
    """Per-token reconstruction targets of the official VideoMAE (V2) engine, for any tubelet size.

    Args:
        videos (Tensor): (B, C, T, H, W) pixels in [0, 1] (the un-normalised input).
        tubelet_size (int): t; the official code hard-codes 2.
        patch_size (int): p.
        normalize (bool): Per token and channel, ``(x - mean) / (sqrt(unbiased var) + eps)`` over the t*p*p
            pixels.

    Returns:
        Tensor: (B, N, t*p*p*C), flattened pixel-major then channel (``b n (p c)``), N in (t, h, w) order.
    """
    x = rearrange(videos, 'b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c', p0=tubelet_size, p1=patch_size,
                  p2=patch_size)
    if normalize:
        x = (x - x.mean(dim=-2, keepdim=True)) / (x.var(dim=-2, unbiased=True, keepdim=True).sqrt() + eps)
    return x.flatten(2)


class PretrainDecoder(nn.Module):
    """The official pretraining decoder: blocks, ``norm``, ``head`` (names ``decoder.blocks.i``, ``decoder.norm``,
    ``decoder.head``, and ``decoder.blocks.i.gamma_1`` / ``gamma_2`` with layer scale); only the last
    ``num_queries`` tokens go through ``norm`` and ``head``."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, out_dim: int, mlp_ratio: float = 4.,
                 drop_path_rate: float = 0., norm_eps: float = 1e-6, with_cp: bool = False,
                 init_values: float = 0.):
        super().__init__()
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, init_values=init_values, drop_path=dpr[i], norm_eps=norm_eps,
                  qkv_bias=True)
            for i in range(depth)
        ])
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.head = nn.Linear(embed_dim, out_dim)
        self.with_cp = with_cp

    def forward(self, x: torch.Tensor, num_queries: int) -> torch.Tensor:
        """(B, Nv + Nq, Cd) -> (B, Nq, out_dim)."""
        for blk in self.blocks:
            if self.with_cp and self.training and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        return self.head(self.norm(x[:, -num_queries:]))


@MODELS.register_module()
class VideoMAEv2Pretrainer(BaseModel):
    """VideoMAE V2 masked-autoencoder pretraining (dual masking) around a :class:`VideoViT` encoder.

    Args:
        encoder (dict): VideoViT config; ``use_mean_pooling`` is forced to False (the pretraining encoder ends
            in ``norm``, saved as ``encoder.norm``).
        decoder_dim (int, optional): Decoder width; default from :data:`DECODER_PRESETS` by ``encoder.arch``.
        decoder_heads (int, optional): Decoder heads; default as ``decoder_dim``.
        decoder_depth (int): Decoder blocks (4 in every official script).
        encoder_mask (dict): ``dict(kind='tube'|'random', ratio=0.9)``.
        decoder_mask (dict, optional): ``dict(kind='running_cell', ratio=0.5)``; None (or ratio 0) is VideoMAE
            v1: every encoder-masked token is a query.
        norm_pix_loss (bool): Per-patch normalised targets (official default).
        mean (Sequence[float]): Mean of the data preprocessor's normalisation in [0, 1] units; the target
            un-normalises with it (official: ImageNet).
        std (Sequence[float]): Same for std.
        decoder_drop_path_rate (float): Stochastic depth in the decoder.
        decoder_with_cp (bool): Activation checkpointing of the decoder blocks.
        decoder_init_values (float, optional): Layer-scale init of the decoder (``gamma_1`` / ``gamma_2``); 0
            disables it. None: the encoder's ``init_values``, as the official model, which passes one
            ``init_values`` to both.
        data_preprocessor (dict, optional): MMEngine data preprocessor (``ActionDataPreprocessor`` with
            ``mean = 255 * mean``, ``std = 255 * std``).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads an official pretraining
            checkpoint (encoder, decoder, ``encoder_to_decoder``, ``mask_token``) to continue pretraining.
    """

    def __init__(self, encoder: dict, decoder_dim: Optional[int] = None, decoder_heads: Optional[int] = None,
                 decoder_depth: int = 4, encoder_mask: dict = dict(kind='tube', ratio=0.9),
                 decoder_mask: Optional[dict] = dict(kind='running_cell', ratio=0.5), norm_pix_loss: bool = True,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 decoder_drop_path_rate: float = 0., decoder_with_cp: bool = False,
                 decoder_init_values: Optional[float] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        encoder = dict(encoder)
        encoder.pop('type', None)
        if encoder.setdefault('use_mean_pooling', False):
            raise ValueError('the pretraining encoder ends in norm: use_mean_pooling must be False')
        encoder.setdefault('out_type', 'tokens')
        self.encoder = VideoViT(**encoder)
        arch = encoder.get('arch')
        if decoder_dim is None:
            if arch not in DECODER_PRESETS:
                raise ValueError(f'pass decoder_dim/decoder_heads: no official decoder for encoder arch {arch!r}')
            decoder_dim, preset_heads = DECODER_PRESETS[arch]
            decoder_heads = decoder_heads or preset_heads
        if decoder_heads is None:
            raise ValueError('decoder_heads is required with an explicit decoder_dim')
        self._check_mask_cfg(encoder_mask, ('tube', 'random'), 'encoder_mask')
        if decoder_mask is not None and decoder_mask.get('ratio', 0) == 0:
            decoder_mask = None
        if decoder_mask is not None:
            self._check_mask_cfg(decoder_mask, ('running_cell', 'random', 'tube'), 'decoder_mask')
        self.encoder_mask, self.decoder_mask = dict(encoder_mask), decoder_mask and dict(decoder_mask)
        self.norm_pix_loss = norm_pix_loss
        self.decoder_dim = decoder_dim
        self.tubelet_size, self.patch_size = self.encoder.tubelet_size, self.encoder.patch_size
        out_dim = 3 * self.tubelet_size * self.patch_size ** 2
        self.encoder_to_decoder = nn.Linear(self.encoder.embed_dim, decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        if decoder_init_values is None:
            decoder_init_values = encoder.get('init_values', 0.)
        self.decoder = PretrainDecoder(decoder_dim, decoder_depth, decoder_heads, out_dim,
                                       drop_path_rate=decoder_drop_path_rate, with_cp=decoder_with_cp,
                                       init_values=decoder_init_values)
        self.register_buffer('pix_mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1, 1), False)
        self.register_buffer('pix_std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1, 1), False)
        # official init of the pretraining-only parts: xavier-uniform Linear, trunc-normal mask token
        for m in [self.encoder_to_decoder, *self.decoder.modules()]:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.mask_token, std=.02)

    @staticmethod
    def _check_mask_cfg(cfg: dict, types: Tuple[str, ...], name: str) -> None:
        if not isinstance(cfg, dict) or cfg.get('kind') not in types or 'ratio' not in cfg or len(cfg) != 2:
            raise ValueError(f'{name} must be dict(kind=one of {types}, ratio=float), got {cfg}')

    def init_weights(self) -> None:
        if has_pretrained_cfg(self.init_cfg):
            init_from_pretrained(self, self.init_cfg, target='pretrain')
        else:
            super().init_weights()

    # ------------------------------------------------------------------------------------ helpers
    def no_weight_decay(self) -> set:
        return {'mask_token'} | {f'encoder.{k}' for k in self.encoder.no_weight_decay()}

    def _masks(self, inputs: torch.Tensor, data_samples) -> Tuple[torch.Tensor, Optional[torch.Tensor], int, int]:
        """(encoder mask, decoder mask or None, Nv, Nq); masks from the data samples when present."""
        b = inputs.shape[0]
        grid = self.encoder.patch_embed.grid(*inputs.shape[2:])
        n = grid[0] * grid[1] * grid[2]
        from_data = data_samples is not None and len(data_samples) and 'encoder_mask' in data_samples[0]
        if from_data:
            enc_np = np.stack([np.asarray(ds.encoder_mask, dtype=bool).reshape(-1) for ds in data_samples])
            if enc_np.shape[1] != n:
                raise ValueError(f'encoder_mask of the data has {enc_np.shape[1]} tokens, the clip {n}')
            nv = n - int(enc_np[0].sum())  # counted on the host copy: no device sync
            enc = torch.from_numpy(enc_np).to(inputs.device, non_blocking=True)
        else:
            nv = n - num_masked(self.encoder_mask['kind'], grid, self.encoder_mask['ratio'])
            enc = make_mask(self.encoder_mask['kind'], b, grid, self.encoder_mask['ratio'], inputs.device)
        if self.decoder_mask is None:
            return enc, None, nv, n - nv
        if from_data and 'decoder_mask' in data_samples[0]:
            dec_np = np.stack([np.asarray(ds.decoder_mask, dtype=bool).reshape(-1) for ds in data_samples])
            nq = n - int(dec_np[0].sum())
            dec = torch.from_numpy(dec_np).to(inputs.device, non_blocking=True)
        else:
            nq = n - num_masked(self.decoder_mask['kind'], grid, self.decoder_mask['ratio'])
            dec = make_mask(self.decoder_mask['kind'], b, grid, self.decoder_mask['ratio'], inputs.device)
        return enc, dec, nv, nq

    # ------------------------------------------------------------------------------------ forward
    def forward_encoder(self, inputs: torch.Tensor, enc_mask: torch.Tensor,
                        num_visible: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode the visible tokens only.

        Args:
            inputs (Tensor): (B, 3, T, H, W) normalised clip.
            enc_mask (Tensor): (B, N) bool, True = hidden from the encoder.
            num_visible (int): Nv, False count of ``enc_mask`` per sample.

        Returns:
            tuple: latent (B, Nv, C) after ``encoder.norm`` and ``vis_idx`` (B, Nv).
        """
        vis_idx = mask_to_index(enc_mask, num_visible)
        return self.encoder.forward_features(inputs, vis_idx), vis_idx

    def forward_decoder(self, latent: torch.Tensor, vis_idx: torch.Tensor, query_idx: torch.Tensor,
                        num_tokens: int) -> torch.Tensor:
        """Decode the queries: ``[encoder_to_decoder(latent) + pos[vis_idx], mask_token + pos[query_idx]]``
        through the decoder, whose ``norm`` and ``head`` see only the queries.

        Args:
            latent (Tensor): (B, Nv, C) encoder output.
            vis_idx (Tensor): (B, Nv) positions of ``latent``.
            query_idx (Tensor): (B, Nq) positions to reconstruct.
            num_tokens (int): N, tokens of the full clip (length of the position table).

        Returns:
            Tensor: predictions (B, Nq, 3*t*p*p).
        """
        x = self.encoder_to_decoder(latent)
        pos = sincos_table(num_tokens, self.decoder_dim, x.dtype, x.device)
        x = torch.cat([x + pos[vis_idx], self.mask_token.to(x.dtype) + pos[query_idx]], dim=1)
        return self.decoder(x, query_idx.shape[1])

    def targets(self, inputs: torch.Tensor) -> torch.Tensor:
        """Normalised clip -> (B, N, t*p*p*3) targets (un-normalised to [0, 1] first, as official)."""
        with torch.no_grad():
            videos = inputs.float() * self.pix_std + self.pix_mean
            return pixel_targets(videos, self.tubelet_size, self.patch_size, self.norm_pix_loss)

    def forward_loss(self, inputs: torch.Tensor, pred: torch.Tensor, query_idx: torch.Tensor,
                     enc_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """MSE of ``pred`` against :func:`pixel_targets` at the queries.

        Args:
            inputs (Tensor): (B, 3, T, H, W) normalised clip.
            pred (Tensor): (B, Nq, 3*t*p*p).
            query_idx (Tensor): (B, Nq).
            enc_mask (Tensor, optional): With dual masking, the encoder mask: only queries the encoder did not
                see count (summed and divided by their number, as the official engine). None (VideoMAE v1:
                every query was hidden) averages over all queries.

        Returns:
            Tensor: scalar loss.
        """
        target = _gather_tokens(self.targets(inputs), query_idx)
        per_token = (pred.float() - target).pow(2).mean(-1)
        if enc_mask is None:
            return per_token.mean()
        weight = torch.gather(enc_mask, 1, query_idx).to(pred.dtype)
        return (per_token * weight).sum() / weight.sum().clamp(min=1)

    def _forward(self, inputs: torch.Tensor, data_samples):
        """Masks, encoder and decoder: (pred, query_idx, encoder mask, decoder mask or None)."""
        enc, dec, nv, nq = self._masks(inputs, data_samples)
        latent, vis_idx = self.forward_encoder(inputs, enc, nv)
        # queries: the decoder mask's kept tokens, or (v1) every token hidden from the encoder
        query_idx = mask_to_index(enc, nq, masked=True) if dec is None else mask_to_index(dec, nq)
        return self.forward_decoder(latent, vis_idx, query_idx, enc.shape[1]), query_idx, enc, dec

    def loss(self, inputs: torch.Tensor, data_samples=None) -> Dict[str, torch.Tensor]:
        pred, query_idx, enc, dec = self._forward(inputs, data_samples)
        return dict(loss_pix=self.forward_loss(inputs, pred, query_idx, enc if dec is not None else None))

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        inputs = one_clip_per_sample(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('tensor', 'predict'):
            pred, query_idx, _, _ = self._forward(inputs, data_samples)
            if mode == 'tensor':
                return pred
            out = []
            for i, ds in enumerate(data_samples or [None] * inputs.shape[0]):
                from mmaction.structures import ActionDataSample
                ds = ds if ds is not None else ActionDataSample()
                ds.set_field(pred[i].detach(), 'pred_pixels', field_type='metainfo')
                ds.set_field(query_idx[i], 'query_idx', field_type='metainfo')
                out.append(ds)
            return out
        raise ValueError(f"mode must be 'loss', 'tensor' or 'predict', got {mode!r}")
