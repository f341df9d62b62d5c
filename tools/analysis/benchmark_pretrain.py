"""VideoMAE V2 pretraining step: VideoFM's dual masking vs encoder-only masking, and both against the official
recipe, in one run. A shortcut for ``tools/analysis/benchmark.py --phases pretrain_dual,pretrain_v1`` (same JSON;
the options below are mapped onto it):

    python tools/analysis/benchmark_pretrain.py [--arch base] [--frames 16] [--size 224] [--batch 1]
        [--iters 5] [--warmup 2] [--device cpu|cuda] [--amp] [--threads N] [--out FILE] [benchmark.py options]

``--amp`` is ``--dtype bf16``. This module also holds the reference the benchmark times: a re-implementation
of the official VideoMAE / VideoMAE V2 pretraining step (OpenGVLab/VideoMAEv2
``models/modeling_pretrain.py`` + ``engine_for_pretraining.py``), written from the facts in
``/work/shared/reference/videomaev2.md`` for the speed comparison in ``tools/analysis/benchmark.py`` only (the
official code cannot be imported here: it needs DeepSpeed / timm internals and registers into timm's globals).

What it keeps from the official step, because that is what costs time and memory:

* explicit attention (``q @ k^T``, softmax, ``@ v``: the (B, heads, N, N) map is materialised), the qkv linear
  with the ``q_bias`` / zero / ``v_bias`` concatenated bias, timm-style blocks (pre-norm, GELU MLP);
* the encoder embeds ALL tubelets, adds a copy of the position table, and selects the visible ones with a
  boolean gather (``x[~mask]``); the decoder expands the table to B x N x C and gathers with boolean masks too;
* encoder-only masking (VideoMAE v1): the decoder input is ``[visible, every masked token]``; dual masking
  (V2): ``[visible, tokens where the decoder mask is 0]``; only the last ``return_token_num`` outputs go through
  the decoder ``norm`` and ``head``;
* the target: un-normalised clip, per tubelet per channel mean and unbiased std over its 2*p*p pixels,
  ``(x - mean) / (std + 1e-6)``, gathered with the same boolean masks; loss: MSE (v1), or the per-token MSE
  averaged over the queries the encoder did not see (V2);
* ``torch.optim.AdamW`` with its default implementation (the official ``create_optimizer``), betas (.9, .95).

Masks are inputs (the official data pipeline draws them), so drawing them is not timed for this model.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ['OfficialPretrainModel', 'official_targets', 'official_loss']

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sinusoid_table(n: int, dim: int) -> torch.Tensor:
    """The official 1-D sinusoid table (1, n, dim): sin on even, cos on odd channels."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    div = torch.pow(10000, 2 * (torch.arange(dim) // 2) / dim).to(torch.float64)
    table = pos / div
    table[:, 0::2] = torch.sin(table[:, 0::2])
    table[:, 1::2] = torch.cos(table[:, 1::2])
    return table.float()[None]


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, head_dim: Optional[int] = None):
        super().__init__()
        self.num_heads = num_heads
        head_dim = head_dim or dim // num_heads
        all_dim = head_dim * num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, all_dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(all_dim))
        self.v_bias = nn.Parameter(torch.zeros(all_dim))
        self.proj = nn.Linear(all_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias, requires_grad=False), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, heads, N, N), materialised
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, -1))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, head_dim: Optional[int] = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, head_dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _run_blocks(blocks: nn.ModuleList, x: torch.Tensor, with_cp: bool) -> torch.Tensor:
    for blk in blocks:
        x = checkpoint(blk, x, use_reentrant=False) if with_cp and x.requires_grad else blk(x)
    return x


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int, tubelet: int):
        super().__init__()
        self.proj = nn.Conv3d(3, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Encoder(nn.Module):
    """``PretrainVisionTransformerEncoder``: embeds ALL tubelets, adds the table, keeps ``x[~mask]``."""

    def __init__(self, spec: dict, num_tokens: int, with_cp: bool):
        super().__init__()
        c = spec['embed_dim']
        self.with_cp = with_cp
        self.patch_embed = PatchEmbed(c, spec['patch_size'], spec['tubelet_size'])
        self.register_buffer('pos_embed', sinusoid_table(num_tokens, c), persistent=False)
        self.blocks = nn.ModuleList(Block(c, spec['num_heads'], spec['mlp_ratio'], spec['head_dim'])
                                    for _ in range(spec['depth']))
        self.norm = nn.LayerNorm(c, eps=1e-6)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = x + self.pos_embed.type_as(x).to(x.device).clone().detach()
        b, _, c = x.shape
        x_vis = x[~mask].reshape(b, -1, c)
        return self.norm(_run_blocks(self.blocks, x_vis, self.with_cp))


class Decoder(nn.Module):
    """``PretrainVisionTransformerDecoder``: blocks over all inputs, ``norm`` + ``head`` on the last
    ``return_token_num``."""

    def __init__(self, dim: int, heads: int, depth: int, out_dim: int, with_cp: bool):
        super().__init__()
        self.with_cp = with_cp
        self.blocks = nn.ModuleList(Block(dim, heads, 4.) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor, return_token_num: int) -> torch.Tensor:
        x = _run_blocks(self.blocks, x, self.with_cp)
        return self.head(self.norm(x[:, -return_token_num:]))


class OfficialPretrainModel(nn.Module):
    """``PretrainVisionTransformer``: encoder on the visible tubelets, 4-block decoder, pixel head. Parameter
    names are the official checkpoint's (``encoder.blocks.i.attn.q_bias``, ``encoder_to_decoder``,
    ``decoder.head``, ...), which are VideoFM's too, so one state dict loads into both.

    Args:
        spec (dict): ``embed_dim``, ``depth``, ``num_heads``, ``head_dim``, ``mlp_ratio``, ``patch_size``,
            ``tubelet_size``.
        frames (int): T. img (int): H = W.
        decoder_dim (int), decoder_heads (int): Official decoder width / heads (B: 384 / 6, g: 512 / 8).
        decoder_depth (int): 4 in every official script.
        with_cp (bool): Per-block activation checkpointing (official ``with_cp``).
    """

    def __init__(self, spec: dict, frames: int, img: int, decoder_dim: int, decoder_heads: int,
                 decoder_depth: int = 4, with_cp: bool = False):
        super().__init__()
        p, t = spec['patch_size'], spec['tubelet_size']
        n = (frames // t) * (img // p) ** 2
        self.encoder = Encoder(spec, n, with_cp)
        self.encoder_to_decoder = nn.Linear(spec['embed_dim'], decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer('pos_embed', sinusoid_table(n, decoder_dim), persistent=False)
        self.decoder = Decoder(decoder_dim, decoder_heads, decoder_depth, 3 * t * p * p, with_cp)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.mask_token, std=.02)

    @property
    def with_cp(self) -> bool:
        return self.encoder.with_cp

    @with_cp.setter
    def with_cp(self, on: bool) -> None:
        self.encoder.with_cp = self.decoder.with_cp = on

    def forward(self, x: torch.Tensor, mask: torch.Tensor, decode_mask: Optional[torch.Tensor] = None):
        """x (B, 3, T, H, W); mask (B, N) bool, True = hidden from the encoder; decode_mask (B, N) bool, True =
        not reconstructed (None: VideoMAE v1, every hidden token is reconstructed). Returns (B, Nq, 3*t*p*p)."""
        x_vis = self.encoder_to_decoder(self.encoder(x, mask))
        b, _, cd = x_vis.shape
        pos = self.pos_embed.expand(b, -1, -1).type_as(x).to(x.device).clone().detach()
        queries = mask if decode_mask is None else ~decode_mask
        pos_vis = pos[~mask].reshape(b, -1, cd)
        pos_query = pos[queries].reshape(b, -1, cd)
        x_full = torch.cat([x_vis + pos_vis, self.mask_token + pos_query], dim=1)
        return self.decoder(x_full, pos_query.shape[1])


def official_targets(videos: torch.Tensor, patch_size: int, tubelet_size: int = 2) -> torch.Tensor:
    """The engine's normalised pixel targets (B, N, t*p*p*3) from a normalised clip (B, 3, T, H, W)."""
    with torch.no_grad():
        mean = torch.as_tensor(IMAGENET_MEAN, device=videos.device)[None, :, None, None, None]
        std = torch.as_tensor(IMAGENET_STD, device=videos.device)[None, :, None, None, None]
        v = videos * std + mean
        b, ch, t, h, w = v.shape
        p, q = patch_size, tubelet_size
        # 'b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c'
        v = v.reshape(b, ch, t // q, q, h // p, p, w // p, p).permute(0, 2, 4, 6, 3, 5, 7, 1)
        v = v.reshape(b, (t // q) * (h // p) * (w // p), q * p * p, ch)
        v = (v - v.mean(dim=-2, keepdim=True)) / (v.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
        return v.flatten(2)  # 'b n p c -> b n (p c)'


def official_loss(outputs: torch.Tensor, patches: torch.Tensor, mask: torch.Tensor,
                  decode_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """v1: MSE against the hidden tokens' targets; V2: per-token MSE over the decoded tokens, averaged over those
    the encoder did not see (``cal_loss_mask``)."""
    b, _, c = patches.shape
    if decode_mask is None:
        return F.mse_loss(outputs.float(), patches[mask].reshape(b, -1, c))
    labels = patches[~decode_mask].reshape(b, -1, c)
    loss = (outputs.float() - labels).pow(2).mean(dim=-1)
    weight = mask[~decode_mask].reshape(b, -1).to(loss.dtype)
    return (loss * weight).sum() / weight.sum()


def main(argv=None) -> int:
    """Map this tool's options onto ``benchmark.py`` and run it (extra options pass through)."""
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=None, help='clip height = width (benchmark.py --img)')
    parser.add_argument('--amp', action='store_true', help='bfloat16 autocast (benchmark.py --dtype bf16)')
    args, rest = parser.parse_known_args(argv)
    forwarded = ['--phases', 'pretrain_dual,pretrain_v1', '--no-mmaction'] + rest
    if args.size is not None:
        forwarded += ['--img', str(args.size)]
    if args.amp:
        forwarded += ['--dtype', 'bf16']
    import benchmark
    return benchmark.main(forwarded)


if __name__ == '__main__':
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
