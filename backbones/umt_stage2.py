"""Unmasked Teacher (UMT) stage 2: the masked video encoder + transformers' BERT as a video-language model.

The interface the retrieval and QA tasks build on: ``tokenize`` (texts -> ids, mask), ``encode_vision`` (clip ->
vision tokens, L2-normalised projected feature), ``encode_text`` (ids -> text tokens, feature), ``fuse`` (text
tokens cross-attending to vision tokens), ``itm_logits``, ``loss``, ``forward`` and ``temperature``. Details:

* ``encode_vision(video, masked=False, keep_temporal=False)``: ``keep_temporal=True`` returns per-frame features
  (B, T, D) (official ``keep_temporal`` retrieval evaluation: per-frame similarities averaged, see
  :meth:`UMTStage2.similarity`).
* ``num_align_layers`` (6), ``multinomial`` (official ``torch.multinomial`` semantic masks) and
  ``text_pretrained_strict`` are extra constructor arguments; ``mask_type`` also takes ``'tube'`` / ``'random'``
  (no teacher needed) and a ratio of 0 means no masking (fine-tuning).
* The alignment loss is ``loss_align`` (official ``loss_uta``).
* Data samples must carry ``text`` (str) and ``video_id`` (int), as metainfo or data fields.

Flow of one training step (:meth:`UMTStage2.loss`), laid out like the official ``UMT.forward``:

1. ``temp`` clamped in place to [0.001, 0.5].
2. Vision, ONE masked forward: the frozen CLIP teacher (if configured) on the full clip gives the semantic mask
   (video 0.8, image 0.5; images are 1-frame clips) and the alignment targets; the VideoViT encodes the visible
   tokens -> ``encoder.norm`` -> tokens (B, Nv, Cv); ``feat = normalize(vision_proj(pool_norm(mean(tokens))))``.
3. Text: embeddings + the ``fusion_layer`` text-only BERT layers -> tokens (N, L, Ct);
   ``feat = normalize(text_proj(CLS))``.
4. Losses: VTC (symmetric CE over the features all-gathered from every rank, multi-positive targets from
   ``video_id``), VTM (one hard negative each way drawn by multinomial over the softmax of the local similarities,
   positives excluded; fusion layers + ``itm_head``), MLM (probability 0.5, 80/10/10, special tokens never masked;
   text layers again on the corrupted ids, then the fusion layers over the same vision tokens, ``cls``), align
   (stage-1 UTA: ``2 - 2 cos`` between ``clip_decoder`` heads on the student's last K blocks and the teacher).

Gradients of the gathered features: every rank computes the same global VTC loss and back-propagates only into
its own rows (the official ``allgather_wgrad``: no sum over ranks). So on each rank the gradient of its features
equals the single-process gradient on the concatenated batch; DDP's averaging then scales the VTC part of the
parameter gradient by 1 / world_size, exactly as the official training did.

Checkpoints: an official stage-2 ``{'model': ...}`` loads as it is with ``init_cfg=dict(type='Pretrained',
checkpoint=PATH)`` (converter :func:`backbones.checkpoint.convert_umt_stage2_state_dict`; every weight of the model
must be in it, else :class:`~backbones.checkpoint.PartialLoadError`); a UMT stage-1 file there initialises the
vision encoder and its ``clip_decoder`` (the official stage-2 start). The teacher is not part of the model's
state dict (as in stage 1); load it with ``teacher=dict(..., checkpoint=PATH)`` (a CLIP file, or the stage-2
file itself, whose ``clip_teacher.*`` it finds).
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import nn

from .checkpoint import (LoadReport, PartialLoadError, check_load, convert_umt_stage2_state_dict, detect_format,
                         load_checkpoint_file, unwrap_checkpoint, _strip_wrappers)
from .masking import make_mask, mask_to_index, num_visible
from .pretrained import has_pretrained_cfg, init_from_pretrained
from .registry import MODELS
from .umt import (align_loss, align_predictions, align_targets, build_align_heads, build_frozen_teacher,
                  teacher_tokens_and_mask)
from .video_vit import VideoViT, one_clip_per_sample

__all__ = ['UMTStage2', 'UMTVisionEncoder', 'vtc_loss', 'vtm_hard_negatives', 'gather_with_local_grad',
           'TEMP_RANGE']

TEMP_RANGE = (0.001, 0.5)
LOSS_NAMES = ('vtc', 'vtm', 'mlm', 'align')
_INIT_KEYS = ('checkpoint', 'strict', 'prefix', 'map_location')


# --------------------------------------------------------------------------------------------- distributed
def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _GatherLocalGrad(torch.autograd.Function):
    """All-gather along dim 0; backward returns this rank's rows of the incoming gradient (no sum over ranks)."""

    @staticmethod
    def forward(ctx, x):
        world, rank = dist.get_world_size(), dist.get_rank()
        out = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(out, x.contiguous())
        ctx.rows = (rank * x.shape[0], (rank + 1) * x.shape[0])
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.rows
        return grad[a:b]


def _check_equal_batches(n: int, device) -> None:
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(_world())]
    dist.all_gather(sizes, torch.tensor([n], device=device))
    sizes = [int(s) for s in sizes]
    if len(set(sizes)) != 1:
        raise ValueError(f'VTC gathers the features of every rank and needs the same batch size on each, got '
                         f'{sizes}: use drop_last=True in the training dataloader')


def gather_with_local_grad(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) on each rank -> (world * n, ...) in rank order; the gradient flows back to the local rows only
    (official ``allgather_wgrad``). Identity without an initialised process group of more than one rank."""
    if _world() == 1:
        return x
    _check_equal_batches(x.shape[0], x.device)
    return _GatherLocalGrad.apply(x)


def _gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    if _world() == 1:
        return x
    out = [torch.empty_like(x) for _ in range(_world())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


# -------------------------------------------------------------------------------------------------- losses
def vtc_loss(vision_feat: torch.Tensor, text_feat: torch.Tensor, video_id: torch.Tensor,
             temp: Union[float, torch.Tensor]) -> torch.Tensor:
    """Symmetric video-text contrastive loss with multi-positive targets.

    Args:
        vision_feat (Tensor): (M, D) L2-normalised video features.
        text_feat (Tensor): (M, D) L2-normalised text features (pair i = video i with text i).
        video_id (Tensor): (M,) int; pairs with equal ids are all positives of each other.
        temp (float | Tensor): Temperature.

    Returns:
        Tensor: ``(CE_v2t + CE_t2v) / 2`` with targets ``pos / pos.sum(1)``, ``pos[i, j] = id_i == id_j``.
    """
    sim = vision_feat.float() @ text_feat.float().t() / temp  # (M, M) video x text
    pos = (video_id[:, None] == video_id[None, :]).float()
    targets = pos / pos.sum(1, keepdim=True)
    loss_v2t = -(F.log_softmax(sim, dim=1) * targets).sum(1).mean()
    loss_t2v = -(F.log_softmax(sim.t(), dim=1) * targets).sum(1).mean()
    return (loss_v2t + loss_t2v) / 2


@torch.no_grad()
def vtm_hard_negatives(sim_v2t: torch.Tensor, video_id: torch.Tensor,
                       generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """One hard negative each way, drawn with probability ``softmax(sim)`` restricted to the negatives.

    Args:
        sim_v2t (Tensor): (B, B) local video x text similarities (already divided by the temperature).
        video_id (Tensor): (B,) int; equal ids are positives and never drawn.
        generator (torch.Generator, optional): For ``torch.multinomial``.

    Returns:
        tuple: ``video_neg`` (B,): for text i, a video index; ``text_neg`` (B,): for video i, a text index.

    Raises:
        ValueError: A sample has no negative (every sample of the batch shares its ``video_id``).
    """
    pos = video_id[:, None] == video_id[None, :]
    if bool(pos.all(1).any()):
        raise ValueError(f'VTM needs a negative for every sample, but some share their video_id with the whole '
                         f'batch (ids {video_id.tolist()}); use a larger batch or shuffle the data')
    # softmax restricted to the negatives: the official masked softmax renormalised (which multinomial does anyway)
    w_t2v = F.softmax(sim_v2t.t().float().masked_fill(pos, float('-inf')), dim=1)
    w_v2t = F.softmax(sim_v2t.float().masked_fill(pos, float('-inf')), dim=1)
    video_neg = torch.multinomial(w_t2v, 1, generator=generator).squeeze(1)
    text_neg = torch.multinomial(w_v2t, 1, generator=generator).squeeze(1)
    return video_neg, text_neg


def _bert():
    """:mod:`backbones.text.bert`, imported when a model is built: transformers is the optional ``text`` extra, and
    ``import backbones`` (every recognition, AVA, TAD and pretraining job) does not need it."""
    try:
        from .text import bert
    except ImportError as err:
        raise ImportError(f'UMT stage 2 (and retrieval, QA) needs transformers ({err}); install the text extra: '
                          'pip install -c constraints.txt -e ".[text]"') from err
    return bert


# --------------------------------------------------------------------------------------------------- model
class UMTVisionEncoder(nn.Module):
    """The official ``vision_encoder``: ``encoder`` (VideoViT ending in ``norm``), ``clip_decoder`` (alignment
    heads, only with a teacher) and ``pool_norm`` (LayerNorm of the mean token)."""

    def __init__(self, encoder: VideoViT, clip_decoder: Optional[nn.ModuleList], norm_eps: float = 1e-6):
        super().__init__()
        self.encoder = encoder
        if clip_decoder is not None:
            self.clip_decoder = clip_decoder
        self.pool_norm = nn.LayerNorm(encoder.embed_dim, eps=norm_eps)

    @property
    def has_align_heads(self) -> bool:
        return hasattr(self, 'clip_decoder')

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> ``pool_norm(mean)`` (B, C)."""
        return self.pool_norm(tokens.mean(1))


@MODELS.register_module()
class UMTStage2(BaseModel):
    """UMT stage-2 video-language model (VTC + VTM + MLM + optional unmasked-teacher alignment).

    Args:
        vision (dict): VideoViT keyword arguments (e.g. ``arch='umt2-base'``); tubelet 1, ``use_mean_pooling``
            False (forced), no ``pos_ref_grid`` (stage 2 uses the 1-D sinusoid over the clip's tokens, which gives
            images the official ``img_pos_embed``). May hold ``init_cfg`` for the encoder alone.
        text (dict): ``arch`` (``'bert-base'``: 9 text + 3 fusion layers, ``'bert-large'``: 19 + 5) and/or sizes
            (``vocab_size``, ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``, ``intermediate_size``,
            ``max_position_embeddings``), ``fusion_layer``, other ``BertConfig`` arguments, and ``pretrained``: a
            local transformers BERT directory (see :func:`backbones.text.build_text_encoder`).
        tokenizer (dict): ``path`` (local ``vocab.txt`` or saved tokenizer directory), ``max_length`` (32),
            ``padding`` (``'max_length'``, official; or ``'longest'``), ``do_lower_case`` (True, bare vocab only).
        embed_dim (int): Joint embedding width (512 for B, 768 for L).
        temp (float): Initial temperature (0.07), learnable, clamped to [0.001, 0.5].
        mask_ratio (dict): ``video`` (0.8) and ``image`` (0.5) ratios; 0 = no masking.
        mask_type (str): ``'semantic'`` (needs ``teacher``), ``'tube'`` or ``'random'``.
        teacher (dict, optional): :class:`~backbones.teachers.CLIPTeacher` config (semantic masks and UTA).
        loss_weights (dict): Weights of ``vtc``, ``vtm``, ``mlm``, ``align`` (all 1); 0 skips a loss.
        mlm_prob (float): MLM masking probability (0.5).
        num_align_layers (int): K student / teacher blocks aligned (6).
        multinomial (bool): Official ``torch.multinomial`` semantic masks instead of the equivalent Gumbel top-k.
        data_preprocessor (dict, optional): ``ActionDataPreprocessor`` (ImageNet mean / std, NCTHW).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH, strict=True)``: an official / VideoFM
            stage-2 checkpoint (every weight must load unless ``strict=False``) or a UMT stage-1 checkpoint (vision
            encoder + ``clip_decoder`` only).
    """

    def __init__(self, vision: dict, text: dict, tokenizer: dict, embed_dim: int = 512, temp: float = 0.07,
                 mask_ratio: Optional[dict] = None, mask_type: str = 'semantic', teacher: Optional[dict] = None,
                 loss_weights: Optional[dict] = None, mlm_prob: float = 0.5, num_align_layers: int = 6,
                 multinomial: bool = False, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        # ---- settings
        ratios = dict(video=0.8, image=0.5)
        ratios.update(mask_ratio or {})
        if set(ratios) != {'video', 'image'} or not all(0. <= r < 1. for r in ratios.values()):
            raise ValueError(f'mask_ratio must be dict(video=r, image=r) with 0 <= r < 1, got {mask_ratio}')
        weights = dict.fromkeys(LOSS_NAMES, 1.)
        unknown = set(loss_weights or {}) - set(LOSS_NAMES)
        if unknown:
            raise ValueError(f'loss_weights: unknown losses {sorted(unknown)}; use {LOSS_NAMES}')
        weights.update(loss_weights or {})
        if mask_type not in ('semantic', 'tube', 'random'):
            raise ValueError(f"mask_type must be 'semantic', 'tube' or 'random', got {mask_type!r}")
        if teacher is None and weights['align'] > 0 and loss_weights is not None and loss_weights.get('align'):
            raise ValueError('loss_weights.align > 0 needs a teacher (teacher=dict(type=CLIPTeacher, ...))')
        if teacher is None:
            weights['align'] = 0.
            if mask_type == 'semantic' and any(ratios.values()):
                raise ValueError("mask_type='semantic' draws masks from the CLIP teacher: pass teacher=dict(...), "
                                 "or use mask_type='tube' / 'random', or mask_ratio=dict(video=0., image=0.)")
        self.mask_ratio, self.mask_type, self.multinomial = ratios, mask_type, multinomial
        self.loss_weights, self.mlm_prob = weights, float(mlm_prob)
        if not 0. < self.mlm_prob < 1. and weights['mlm'] > 0:
            raise ValueError(f'mlm_prob must be in (0, 1), got {mlm_prob}')
        self.num_align_layers = num_align_layers

        # ---- vision
        vision = dict(vision)
        vision.pop('type', None)
        if vision.setdefault('use_mean_pooling', False):
            raise ValueError('the UMT vision encoder ends in norm: use_mean_pooling must be False')
        encoder = VideoViT(**vision)
        if encoder.tubelet_size != 1:
            raise ValueError(f'UMT uses tubelet_size 1 (images are 1-frame clips), got {encoder.tubelet_size}')
        if encoder.pos_ref_grid is not None:
            raise ValueError(f'UMT stage 2 uses the 1-D sinusoid over the clip tokens (images: its first h*w rows), '
                             f'but the vision encoder has pos_ref_grid={encoder.pos_ref_grid}: use '
                             f"arch='umt2-base' / 'umt2-large' or sizes without pos_ref_grid")
        clip_decoder = None
        self._teacher: List[nn.Module] = []  # a plain list: outside parameters(), state_dict(), DDP, optimiser
        if teacher is not None:
            built = build_frozen_teacher(teacher, num_align_layers, 'UMTStage2')
            self._teacher.append(built)
            if not 0 < num_align_layers <= encoder.depth:
                raise ValueError(f'num_align_layers must be in 1..{encoder.depth}, got {num_align_layers}')
            clip_decoder = build_align_heads(encoder.embed_dim, built.out_dim, num_align_layers)
        self.vision_encoder = UMTVisionEncoder(encoder, clip_decoder)
        self.vision_width = encoder.embed_dim

        # ---- text
        tokenizer = dict(tokenizer)
        unknown = set(tokenizer) - {'path', 'max_length', 'padding', 'do_lower_case'}
        if unknown:
            raise ValueError(f'tokenizer: unknown keys {sorted(unknown)} (path, max_length, padding, do_lower_case)')
        self.tokenizer = _bert().build_tokenizer(tokenizer.get('path'), tokenizer.get('do_lower_case', True))
        self.max_length = int(tokenizer.get('max_length', 32))
        self.padding = tokenizer.get('padding', 'max_length')
        if self.padding not in ('max_length', 'longest'):
            raise ValueError(f"tokenizer.padding must be 'max_length' or 'longest', got {self.padding!r}")
        self.text_encoder = _bert().build_text_encoder(text, self.vision_width)
        cfg = self.text_encoder.config
        if len(self.tokenizer) > cfg.vocab_size:
            raise ValueError(f'the tokenizer at {tokenizer.get("path")!r} has {len(self.tokenizer)} tokens but the '
                             f'text encoder only vocab_size={cfg.vocab_size} embeddings')
        if self.max_length > cfg.max_position_embeddings:
            raise ValueError(f'tokenizer.max_length {self.max_length} exceeds max_position_embeddings '
                             f'{cfg.max_position_embeddings}')
        self.text_width = cfg.hidden_size
        self._special_ids = sorted(set(self.tokenizer.all_special_ids))
        # unused heads would leave DDP with parameters without gradient: frozen (kept for the checkpoint layout)
        if weights['mlm'] == 0:
            self.text_encoder.cls.predictions.transform.requires_grad_(False)
            self.text_encoder.cls.predictions.bias.requires_grad_(False)
        if weights['align'] == 0 and self.vision_encoder.has_align_heads:
            self.vision_encoder.clip_decoder.requires_grad_(False)

        # ---- heads
        self.vision_proj = nn.Linear(self.vision_width, embed_dim)
        self.text_proj = nn.Linear(self.text_width, embed_dim)
        self.temp = nn.Parameter(torch.ones([]) * temp)
        self.itm_head = nn.Linear(self.text_width, 2)
        self.embed_dim = embed_dim

    # ------------------------------------------------------------------------------------------- basics
    @property
    def teacher(self) -> Optional[nn.Module]:
        return self._teacher[0] if self._teacher else None

    @property
    def temperature(self) -> torch.Tensor:
        """``temp`` clamped to [0.001, 0.5]."""
        return self.temp.clamp(*TEMP_RANGE)

    @property
    def device(self) -> torch.device:
        return self.temp.device

    def no_weight_decay(self) -> set:
        return {'temp'} | {f'vision_encoder.encoder.{k}' for k in self.vision_encoder.encoder.no_weight_decay()}

    def tokenize(self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Texts -> ``input_ids`` (N, L) and ``attention_mask`` (N, L) int64 on the model's device (L =
        ``max_length`` with ``padding='max_length'``)."""
        if isinstance(texts, str):
            raise TypeError('tokenize takes a list of strings, got one string')
        out = self.tokenizer(list(texts), padding=self.padding, truncation=True, max_length=self.max_length,
                             return_tensors='pt')
        return out['input_ids'].to(self.device), out['attention_mask'].to(self.device)

    # ------------------------------------------------------------------------------------------- vision
    def _mask_ratio(self, video: torch.Tensor) -> float:
        return self.mask_ratio['image' if video.shape[2] == 1 else 'video']

    def _visible(self, video: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Teacher tokens (K, B, N, Ct) (or None) and ``vis_idx`` (B, Nv) (or None: every token)."""
        ratio = self._mask_ratio(video)
        encoder = self.vision_encoder.encoder
        if self.teacher is not None and (self.loss_weights['align'] > 0 or self.mask_type == 'semantic'):
            return teacher_tokens_and_mask(self.teacher, encoder, video, self.mask_type, ratio, self.multinomial)
        if ratio == 0:
            return None, None
        grid = encoder.patch_embed.grid(*video.shape[2:])
        mask = make_mask(self.mask_type, video.shape[0], grid, ratio, video.device)
        return None, mask_to_index(mask, num_visible(self.mask_type, grid, ratio))

    def _project_vision(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision_proj(pooled), dim=-1)

    def encode_vision(self, video: torch.Tensor, masked: bool = False,
                      keep_temporal: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode clips (images: T = 1).

        Args:
            video (Tensor): (B, 3, T, H, W) (or (B, 1, 3, T, H, W)).
            masked (bool): Encode only the visible tokens of a training mask (semantic / tube / random at the
                video or image ratio).
            keep_temporal (bool): Per-frame features (official ``keep_temporal``): ``pool_norm`` of each frame's
                mean token; all tokens only.

        Returns:
            tuple: tokens (B, Lv, Cv) for the fusion layers and ``feat`` = ``normalize(vision_proj(pool_norm(
            mean tokens)))`` (B, D), or (B, T, D) with ``keep_temporal``.
        """
        video = one_clip_per_sample(video)
        vis_idx = self._visible(video)[1] if masked else None
        tokens = self.vision_encoder.encoder.forward_features(video, vis_idx)
        if keep_temporal:
            if masked:
                raise ValueError('keep_temporal needs every token (masked=False)')
            b, t = video.shape[0], video.shape[2]
            frames = tokens.reshape(b, t, -1, tokens.shape[-1]).mean(2)  # (B, T, C)
            return tokens, self._project_vision(self.vision_encoder.pool_norm(frames))
        return tokens, self._project_vision(self.vision_encoder.pool(tokens))

    @staticmethod
    def similarity(vision_feat: torch.Tensor, text_feat: torch.Tensor) -> torch.Tensor:
        """Cosine similarities (Nv, Nt) of (Nv, D) or per-frame (Nv, T, D) video features (averaged over frames,
        official ``get_sim``) and (Nt, D) text features; not divided by the temperature."""
        if vision_feat.dim() == 3:
            return torch.einsum('vtd,nd->vtn', vision_feat, text_feat).mean(1)
        return vision_feat @ text_feat.t()

    # --------------------------------------------------------------------------------------------- text
    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, L) ids and mask -> tokens after the text-only layers (N, L, Ct) and ``feat`` =
        ``normalize(text_proj(CLS))`` (N, D)."""
        tokens = self.text_encoder.forward_text(input_ids, attention_mask)
        return tokens, F.normalize(self.text_proj(tokens[:, 0]), dim=-1)

    def fuse(self, vision_tokens: torch.Tensor, text_tokens: torch.Tensor,
             attention_mask: torch.Tensor) -> torch.Tensor:
        """Fusion layers: text tokens (N, L, Ct) with padding mask (N, L) cross-attending to vision tokens
        (N, Lv, Cv) -> multimodal tokens (N, L, Ct)."""
        return self.text_encoder.forward_fusion(text_tokens, attention_mask, vision_tokens)

    def itm_logits(self, vision_tokens: torch.Tensor, text_tokens: torch.Tensor,
                   attention_mask: torch.Tensor) -> torch.Tensor:
        """Matching logits (N, 2) = ``itm_head(fuse(...)[:, 0])``; index 1 is "match"."""
        return self.itm_head(self.fuse(vision_tokens, text_tokens, attention_mask)[:, 0])

    # ------------------------------------------------------------------------------------------- losses
    def vtc_loss(self, vision_feat: torch.Tensor, text_feat: torch.Tensor,
                 video_id: torch.Tensor) -> torch.Tensor:
        """VTC over the features of every rank (gradient into the local rows), see :func:`vtc_loss`."""
        return vtc_loss(gather_with_local_grad(vision_feat), gather_with_local_grad(text_feat),
                        _gather_no_grad(video_id), self.temp)

    def vtm_loss(self, vision_tokens: torch.Tensor, text_tokens: torch.Tensor, attention_mask: torch.Tensor,
                 vision_feat: torch.Tensor, text_feat: torch.Tensor, video_id: torch.Tensor,
                 negatives: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
                 ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """VTM on the local batch: B positive pairs, B (hard video, text) and B (video, hard text) negatives.

        Args:
            vision_tokens (Tensor): (B, Lv, Cv). text_tokens (Tensor): (B, L, Ct). attention_mask (Tensor): (B, L).
            vision_feat, text_feat (Tensor): (B, D) normalised features (for the hard-negative weights).
            video_id (Tensor): (B,).
            negatives (tuple, optional): ``(video_neg, text_neg)`` indices; drawn by :func:`vtm_hard_negatives`
                if None.

        Returns:
            tuple: CE loss over the 3B pairs (labels 1, 0, 0) and the negatives used.
        """
        if negatives is None:
            sim = vision_feat.detach().float() @ text_feat.detach().float().t() / self.temp.detach()
            negatives = vtm_hard_negatives(sim, video_id)
        video_neg, text_neg = negatives
        v = torch.cat([vision_tokens, vision_tokens[video_neg], vision_tokens])
        t = torch.cat([text_tokens, text_tokens, text_tokens[text_neg]])
        m = torch.cat([attention_mask, attention_mask, attention_mask[text_neg]])
        logits = self.itm_logits(v, t, m)
        b = vision_tokens.shape[0]
        labels = torch.zeros(3 * b, dtype=torch.long, device=logits.device)
        labels[:b] = 1
        return F.cross_entropy(logits.float(), labels), negatives

    def mask_text(self, input_ids: torch.Tensor,
                  generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """MLM corruption of ``input_ids`` (N, L): special tokens never chosen (see
        :func:`backbones.text.mask_tokens`). Returns corrupted ids and labels (-100 = not predicted)."""
        bert = _bert()
        special = bert.special_token_mask(input_ids, self._special_ids)
        return bert.mask_tokens(input_ids, special, self.text_encoder.config.vocab_size, self.tokenizer.mask_token_id,
                           self.mlm_prob, generator)

    def mlm_loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, vision_tokens: torch.Tensor,
                 masked: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> torch.Tensor:
        """MLM: corrupted ids -> text layers -> fusion layers over ``vision_tokens`` -> ``cls`` -> CE at the chosen
        tokens (mean; 0 when none was chosen). ``masked`` = (ids, labels) of :meth:`mask_text`, drawn if None."""
        ids, labels = masked if masked is not None else self.mask_text(input_ids)
        tokens = self.fuse(vision_tokens, self.text_encoder.forward_text(ids, attention_mask), attention_mask)
        chosen = labels != -100
        logits = self.text_encoder.cls(tokens[chosen])  # only the predicted positions: (n, vocab)
        loss = F.cross_entropy(logits.float(), labels[chosen], reduction='sum')
        return loss / chosen.sum().clamp(min=1)

    def _texts_and_ids(self, data_samples, batch: int) -> Tuple[List[str], torch.Tensor]:
        if data_samples is None or len(data_samples) != batch:
            raise ValueError(f'UMTStage2.loss needs one data sample per clip ({batch}), got '
                             f'{None if data_samples is None else len(data_samples)}')
        texts, ids = [], []
        for i, ds in enumerate(data_samples):
            for name in ('text', 'video_id'):
                if name not in ds:
                    raise KeyError(f'data sample {i} has no {name!r}: stage-2 samples need text (str) and video_id '
                                   f"(int), set by tasks.retrieval's packing transform")
            if not isinstance(ds.text, str):
                raise TypeError(f'data sample {i}: text must be one caption (str), got {type(ds.text).__name__}')
            texts.append(ds.text)
            ids.append(int(ds.video_id))
        return texts, torch.tensor(ids, dtype=torch.long, device=self.device)

    def loss(self, inputs: torch.Tensor, data_samples: list) -> Dict[str, torch.Tensor]:
        """One masked vision forward feeding every loss. Returns ``loss_vtc``, ``loss_vtm``, ``loss_mlm``,
        ``loss_align`` (those with a weight > 0), each multiplied by its weight."""
        video = one_clip_per_sample(inputs)
        texts, video_id = self._texts_and_ids(data_samples, video.shape[0])
        with torch.no_grad():
            self.temp.clamp_(*TEMP_RANGE)
        w = self.loss_weights
        teacher_tokens, vis_idx = self._visible(video)
        encoder = self.vision_encoder.encoder
        if w['align'] > 0:
            vision_tokens, inter = encoder.forward_intermediates(video, self.num_align_layers, vis_idx, norm=True)
        else:
            vision_tokens = encoder.forward_features(video, vis_idx)
        vision_feat = self._project_vision(self.vision_encoder.pool(vision_tokens))
        input_ids, attention_mask = self.tokenize(texts)
        text_tokens, text_feat = self.encode_text(input_ids, attention_mask)
        losses = {}
        if w['vtc'] > 0:
            losses['loss_vtc'] = w['vtc'] * self.vtc_loss(vision_feat, text_feat, video_id)
        if w['vtm'] > 0:
            losses['loss_vtm'] = w['vtm'] * self.vtm_loss(vision_tokens, text_tokens, attention_mask, vision_feat,
                                                          text_feat, video_id)[0]
        if w['mlm'] > 0:
            losses['loss_mlm'] = w['mlm'] * self.mlm_loss(input_ids, attention_mask, vision_tokens)
        if w['align'] > 0:
            pred = align_predictions(self.vision_encoder.clip_decoder, torch.stack(inter), vis_idx,
                                     teacher_tokens.shape[2])
            losses['loss_align'] = w['align'] * align_loss(pred, align_targets(self.teacher, teacher_tokens, vis_idx))
        return losses

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        """``'loss'`` -> :meth:`loss`; ``'tensor'`` -> :meth:`encode_vision` (tokens, feat). Evaluation runs in
        the retrieval / QA loops on top of the encode / fuse methods."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.encode_vision(inputs)
        raise ValueError(f"UMTStage2.forward: mode must be 'loss' or 'tensor', got {mode!r} (retrieval and QA "
                         f'evaluation run in tasks.retrieval / tasks.qa on encode_vision / encode_text / itm_logits)')

    # ------------------------------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Random init happens at construction (VideoViT, BERT or ``text.pretrained``); here only checkpoints
        load: the encoder's own ``Pretrained`` ``init_cfg`` (``vision=dict(init_cfg=...)``), then this model's
        (:meth:`load_checkpoint`). The BERT weights are never re-initialised here."""
        encoder = self.vision_encoder.encoder
        if has_pretrained_cfg(encoder.init_cfg):
            encoder.init_weights()
        if self.init_cfg:
            cfg = dict(self.init_cfg)
            if cfg.get('type') != 'Pretrained' or 'checkpoint' not in cfg:
                raise ValueError(f"UMTStage2 init_cfg must be dict(type='Pretrained', checkpoint=PATH), got "
                                 f'{self.init_cfg}')
            unknown = set(cfg) - {'type', *_INIT_KEYS}
            if unknown:
                raise ValueError(f'UMTStage2 init_cfg: unknown keys {sorted(unknown)} (accepted: {_INIT_KEYS})')
            self.load_checkpoint(cfg['checkpoint'], strict=cfg.get('strict', True), prefix=cfg.get('prefix'))
        self._is_init = True

    def load_checkpoint(self, path: str, strict: bool = True, prefix: Optional[str] = None) -> LoadReport:
        """Load a UMT stage-2 checkpoint (official or VideoFM), or a UMT stage-1 one into the vision encoder.

        Args:
            path (str): The file.
            strict (bool): Stage 2: every weight of the model must be in the file with its shape
                (:class:`~backbones.checkpoint.PartialLoadError` otherwise); the MLM head may be absent when the MLM
                loss is off (downstream checkpoints drop it). False: load what fits, report the rest.
            prefix (str, optional): Take the keys under this prefix (e.g. ``'model.'`` of a wrapper).

        Returns:
            LoadReport: Logged too.
        """
        checkpoint = load_checkpoint_file(path)
        if prefix:
            sd, _, _ = unwrap_checkpoint(checkpoint, str(path))
            checkpoint = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        sd, _, _ = unwrap_checkpoint(checkpoint, str(path))
        fmt = detect_format(_strip_wrappers(sd, LoadReport()), str(path))
        if fmt == 'umt-stage1':
            cfg = dict(type='Pretrained', checkpoint=str(path), strict_encoder=True)
            return init_from_pretrained(self.vision_encoder, cfg, target='pretrain')
        state_dict, report = convert_umt_stage2_state_dict(checkpoint, source=str(path))
        model_state = self.state_dict()
        optional = ()
        if self.loss_weights['mlm'] == 0:
            optional = tuple(k for k in model_state if k.startswith('text_encoder.cls.')
                             and k != 'text_encoder.cls.predictions.decoder.weight')
            for k in optional:
                if k not in state_dict:
                    state_dict[k] = model_state[k]
                    report.notes.append(f'{k}: not in the checkpoint; the MLM head is unused (mlm weight 0)')
        skip, notes = check_load(model_state, state_dict, strict=True if strict else False,
                                 encoder_prefix='vision_encoder.encoder.', source=str(path),
                                 model_name='UMTStage2')
        report.notes += notes
        unexpected = [k for k in state_dict if k not in model_state]
        surplus = [k for k in unexpected if k.startswith(('vision_encoder.encoder.', 'text_encoder.'))]
        if strict and surplus:
            raise PartialLoadError(f'{path} has encoder weights UMTStage2 does not: {surplus[:8]}; build the model '
                                   f"with the checkpoint's architecture (vision / text sizes, fusion_layer)")
        report.drop('not in this model (no teacher: no clip_decoder, or another head)', unexpected)
        load = {k: v for k, v in state_dict.items() if k in model_state and k not in skip}
        result = self.load_state_dict(load, strict=False)
        report.loaded = list(load)
        report.missing = list(result.missing_keys)
        print_log(str(report), logger='current', level=logging.INFO)
        return report
