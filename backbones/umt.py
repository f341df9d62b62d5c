"""Unmasked Teacher (UMT) stage 1: a masked :class:`VideoViT` student aligned to a frozen CLIP teacher.

Flow for a clip (B, 3, T, H, W), tubelet 1, N = T*h*w tokens, laid out like mae's ``models_mae.py``:

1. :meth:`~UMTPretrainer.forward_teacher` (no grad, eval) on the full clip: raw tokens of its last K blocks
   (K, B, N, Ct) and, from the CLS->patch attention of its last block, the semantic mask (per frame keep
   ``hw - int(.8 hw)`` tokens, Gumbel top-k on the device or the official multinomial) -> ``vis_idx`` (B, Nv).
2. :meth:`~UMTPretrainer.forward_encoder`: the student encodes the visible tokens; its last K block outputs
   (``forward_intermediates``) -> shared ``encoder.norm``.
3. :meth:`~UMTPretrainer.forward_decoder`: + fixed sinusoid at the visible positions -> per-layer
   ``clip_decoder.i`` (Linear + LayerNorm) -> L2 norm.
4. :meth:`~UMTPretrainer.forward_targets`: the teacher's visible tokens only, through ``ln_post`` + ``proj`` ->
   L2 norm.
5. :meth:`~UMTPretrainer.forward_loss`: ``loss_align = mean over layers x batch x visible tokens of 2 - 2 cos``.

The teacher is stored in a plain list, not as a submodule: it is not in ``parameters()`` (so not in the
optimiser), not in ``state_dict()`` (so not in checkpoints) and not seen by DDP / FSDP; it is moved to the
student's device and dtype-agnostic on first use.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import nn

from .pretrained import has_pretrained_cfg, init_from_pretrained
from .layers.pos_embed import sincos_table
from .masking import make_mask, mask_to_index, num_visible, semantic_mask, semantic_mask_multinomial
from .registry import MODELS
from .video_vit import VideoViT, one_clip_per_sample

__all__ = ['UMTPretrainer', 'AlignHead', 'align_loss', 'build_frozen_teacher', 'teacher_on', 'build_align_heads',
           'draw_mask', 'teacher_tokens_and_mask', 'align_predictions', 'align_targets']


def align_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``2 - 2 cos`` averaged over every leading dimension; both inputs (..., D) are L2-normalised here."""
    return (2 - 2 * (F.normalize(student.float(), dim=-1) * F.normalize(teacher.float(), dim=-1)).sum(-1)).mean()


class AlignHead(nn.Module):
    """UMT alignment head ``norm(head(x))`` (official names ``clip_decoder.i.head`` / ``.norm``; LayerNorm eps
    1e-6 as the official ``norm_layer``)."""

    def __init__(self, in_dim: int, out_dim: int, norm_eps: float = 1e-6):
        super().__init__()
        self.head = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim, eps=norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.head(x))


# ---------------------------------------------------------------------------------------------------------------
# Pieces shared by stage 1 (UMTPretrainer) and stage 2 (backbones.umt_stage2.UMTStage2): the frozen teacher kept
# outside the module tree, the teacher-driven masks, and the alignment heads / targets.
def build_frozen_teacher(cfg: dict, num_return_layers: int, owner: str) -> nn.Module:
    """Build the frozen CLIP teacher from its config (``type`` defaults to ``CLIPTeacher``; ``num_return_layers``
    defaults to the number of aligned layers), frozen and in eval mode. The caller stores it in a plain list so
    that it stays out of ``parameters()`` / ``state_dict()`` / DDP; ``owner`` names the model in the warning
    logged for a random (checkpoint-less) teacher."""
    teacher = dict(cfg)
    teacher_type = teacher.pop('type', 'CLIPTeacher')
    teacher.setdefault('num_return_layers', num_return_layers)
    built = MODELS.build(dict(type=teacher_type, **teacher))
    if getattr(built, 'checkpoint', None) is None:
        print_log(f'{owner}: the CLIP teacher has no checkpoint and is RANDOM (fine for toy runs and '
                  'tests, meaningless for real pretraining)', logger='current', level=30)
    built.requires_grad_(False).eval()
    return built


def teacher_on(teacher: nn.Module, device: torch.device) -> nn.Module:
    """Move the (unregistered) teacher to ``device`` on first use; always in eval mode."""
    if next(teacher.parameters()).device != device:
        teacher.to(device)
    return teacher.eval()


def build_align_heads(in_dim: int, out_dim: int, num_layers: int) -> nn.ModuleList:
    """``num_layers`` :class:`AlignHead` (official ``clip_decoder``), xavier-uniform Linear weights, zero biases."""
    heads = nn.ModuleList([AlignHead(in_dim, out_dim) for _ in range(num_layers)])
    for m in heads.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return heads


def draw_mask(mask_type: str, attn: torch.Tensor, grid, ratio: float, multinomial: bool = False) -> torch.Tensor:
    """(B, N) bool mask, True = hidden from the student: semantic (from the teacher's CLS attention ``attn``
    (B, T, hw); Gumbel top-k or the official multinomial), tube or random."""
    if mask_type == 'semantic':
        fn = semantic_mask_multinomial if multinomial else semantic_mask
        return fn(attn, ratio)
    return make_mask(mask_type, attn.shape[0], grid, ratio, attn.device)


@torch.no_grad()
def teacher_tokens_and_mask(teacher: nn.Module, encoder: VideoViT, inputs: torch.Tensor, mask_type: str,
                            ratio: float, multinomial: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Teacher on the full clip (B, 3, T, H, W) and the student's visible tokens.

    Returns:
        tuple: raw teacher tokens of the returned blocks (K, B, N, Ct) and ``vis_idx`` (B, Nv) of the mask
        drawn from the teacher's CLS attention (or a tube / random mask).
    """
    grid = encoder.patch_embed.grid(*inputs.shape[2:])
    tokens, attn = teacher_on(teacher, inputs.device)(inputs)  # (K, B, N, Ct), (B, T, hw)
    if attn.shape[-1] != grid[1] * grid[2] or attn.shape[1] != grid[0]:
        raise ValueError(f'teacher grid {tuple(attn.shape[1:])} (T, h*w) does not match the student grid '
                         f'{grid}: feed the teacher at img_size = student_size / student_patch * teacher_patch')
    nv = num_visible(mask_type, grid, ratio)
    return tokens, mask_to_index(draw_mask(mask_type, attn, grid, ratio, multinomial), nv)


def align_predictions(heads: nn.ModuleList, latent: torch.Tensor, vis_idx: torch.Tensor,
                      num_tokens: int) -> torch.Tensor:
    """Alignment heads: ``latent`` (K, B, Nv, C) + the fixed sinusoid of the N = ``num_tokens`` positions at the
    visible ones -> per-layer head -> L2 norm. Returns (K, B, Nv, D)."""
    pos = sincos_table(num_tokens, latent.shape[-1], latent.dtype, latent.device)
    x = latent + pos[vis_idx][None]  # (B, Nv, C) rows of the table, shared over layers
    return torch.stack([F.normalize(head(x[i]), dim=-1) for i, head in enumerate(heads)])


def align_targets(teacher: nn.Module, tokens: torch.Tensor, vis_idx: torch.Tensor) -> torch.Tensor:
    """Teacher tokens (K, B, N, Ct) -> L2-normalised ``proj(ln_post(.))`` at the visible tokens only
    (K, B, Nv, D)."""
    k = tokens.shape[0]
    tvis = torch.gather(tokens, 2, vis_idx[None, ..., None].expand(k, -1, -1, tokens.shape[-1]))
    return teacher.project(tvis)


@MODELS.register_module()
class UMTPretrainer(BaseModel):
    """UMT stage-1 pretraining.

    Args:
        encoder (dict): Student VideoViT config (tubelet 1; ``use_mean_pooling`` forced False: the student ends
            in ``encoder.norm``).
        teacher (dict): :class:`~backbones.teachers.CLIPTeacher` config; without ``checkpoint`` the teacher is
            random (a warning is logged; toy runs only).
        mask_type (str): ``'semantic'`` (official), or ``'tube'`` / ``'random'`` (ablations).
        mask_ratio (float): 0.8 in the official recipe.
        multinomial (bool): Semantic masks with the official ``torch.multinomial`` instead of the equivalent,
            sync-free Gumbel top-k.
        num_align_layers (int): K, student / teacher layers aligned (6).
        data_preprocessor (dict, optional): ``ActionDataPreprocessor`` with ImageNet mean/std (the teacher gets
            the same ImageNet-normalised input, as official).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads an official stage-1
            checkpoint (``encoder.*`` + ``clip_decoder.*``).
    """

    def __init__(self, encoder: dict, teacher: dict, mask_type: str = 'semantic', mask_ratio: float = 0.8,
                 multinomial: bool = False, num_align_layers: int = 6, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        encoder = dict(encoder)
        encoder.pop('type', None)
        if encoder.setdefault('use_mean_pooling', False):
            raise ValueError('the UMT student ends in norm: use_mean_pooling must be False')
        self.encoder = VideoViT(**encoder)
        if not 0 < num_align_layers <= self.encoder.depth:
            raise ValueError(f'num_align_layers must be in 1..{self.encoder.depth} (the encoder depth), got '
                             f'{num_align_layers}')
        if self.encoder.tubelet_size != 1:
            raise ValueError(f'UMT students use tubelet_size 1 (the teacher is per frame), got '
                             f'{self.encoder.tubelet_size}')
        if mask_type not in ('semantic', 'tube', 'random'):
            raise ValueError(f"mask_type must be 'semantic', 'tube' or 'random', got {mask_type!r}")
        self.mask_type, self.mask_ratio, self.multinomial = mask_type, mask_ratio, multinomial
        built = build_frozen_teacher(teacher, num_align_layers, 'UMTPretrainer')
        self._teacher = [built]  # a plain list: outside parameters(), state_dict(), DDP and the optimiser
        self.num_align_layers = num_align_layers
        self.clip_decoder = build_align_heads(self.encoder.embed_dim, built.out_dim, num_align_layers)

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    def init_weights(self) -> None:
        if has_pretrained_cfg(self.init_cfg):
            init_from_pretrained(self, self.init_cfg, target='pretrain')
        else:
            super().init_weights()

    def no_weight_decay(self) -> set:
        return {f'encoder.{k}' for k in self.encoder.no_weight_decay()}

    def _teacher_on(self, device: torch.device) -> nn.Module:
        return teacher_on(self.teacher, device)

    def mask(self, attn: torch.Tensor, grid) -> torch.Tensor:
        """(B, N) bool mask, True = hidden from the student."""
        return draw_mask(self.mask_type, attn, grid, self.mask_ratio, self.multinomial)

    @torch.no_grad()
    def forward_teacher(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Teacher on the full clip and the student's visible tokens.

        Returns:
            tuple: raw teacher tokens of the aligned blocks (K, B, N, Ct) and ``vis_idx`` (B, Nv) of the mask
            drawn from the teacher's CLS attention (or a tube / random mask).
        """
        return teacher_tokens_and_mask(self.teacher, self.encoder, inputs, self.mask_type, self.mask_ratio,
                                       self.multinomial)

    def forward_encoder(self, inputs: torch.Tensor, vis_idx: torch.Tensor) -> torch.Tensor:
        """Student on the visible tokens: its last K blocks through the shared ``encoder.norm``.

        Returns:
            Tensor: (K, B, Nv, C).
        """
        inter = self.encoder.forward_intermediates(inputs, self.num_align_layers, vis_idx, norm=True,
                                                   intermediates_only=True)
        return torch.stack(inter)

    def forward_decoder(self, latent: torch.Tensor, vis_idx: torch.Tensor, num_tokens: int) -> torch.Tensor:
        """Alignment heads: ``latent`` (K, B, Nv, C) + the fixed sinusoid of the N = ``num_tokens`` positions
        at the visible ones -> per-layer ``clip_decoder.i`` -> L2 norm.

        Returns:
            Tensor: (K, B, Nv, D).
        """
        return align_predictions(self.clip_decoder, latent, vis_idx, num_tokens)

    def forward_targets(self, tokens: torch.Tensor, vis_idx: torch.Tensor) -> torch.Tensor:
        """Teacher tokens (K, B, N, Ct) -> L2-normalised ``proj(ln_post(.))`` at the visible tokens only
        (K, B, Nv, D)."""
        return align_targets(self.teacher, tokens, vis_idx)

    def forward_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``2 - 2 cos`` averaged over layers x batch x visible tokens."""
        return align_loss(pred, target)

    def _forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens, vis_idx = self.forward_teacher(inputs)
        pred = self.forward_decoder(self.forward_encoder(inputs, vis_idx), vis_idx, tokens.shape[2])
        return pred, self.forward_targets(tokens, vis_idx), vis_idx

    def loss(self, inputs: torch.Tensor, data_samples=None) -> Dict[str, torch.Tensor]:
        pred, target, _ = self._forward(inputs)
        return dict(loss_align=self.forward_loss(pred, target))

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        inputs = one_clip_per_sample(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('tensor', 'predict'):
            student, target, vis_idx = self._forward(inputs)
            if mode == 'tensor':
                return student
            return [dict(student=student[:, i], target=target[:, i], vis_idx=vis_idx[i])
                    for i in range(inputs.shape[0])]
        raise ValueError(f"mode must be 'loss', 'tensor' or 'predict', got {mode!r}")
