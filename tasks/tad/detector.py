"""ActionFormer-style single-stage temporal action detector on a plain ``[B, C, T]`` feature tensor.

Architecture (arch ``(2, 2, 5)``): 2 masked conv1d embedding layers (LayerNorm, ReLU); a stem of 2 transformer
blocks with local-window attention; 5 transformer blocks that each halve the length, giving 6 pyramid levels of
strides 1, 2, 4, ..., 32 (LayerNorm on each level); shared heads over the levels: classification (2 x [conv1d k3,
LayerNorm, ReLU] + conv1d, bias from the prior 0.01) and regression (same trunk, then ``ReLU(Scale_l(x))``
distances to the start / end in units of the level's stride).

Attention is :func:`torch.nn.functional.scaled_dot_product_attention` with a banded boolean mask (window ``w``:
a query sees the keys within ``w // 2`` positions that are not padding), so it runs on the fused kernels.

Training targets (:meth:`ActionFormer.assign`): every level's points ``t * stride`` (in feature-grid units) take
the ground truth that contains them within the centre region (``centre +- radius * stride``, clipped to the
segment), whose largest distance to a boundary is inside the level's regression range; of several, the shortest
(all within 1e-3 of the shortest give their labels: multi-label). Losses, element-wise on the assigned points:
sigmoid focal loss (:func:`torchvision.ops.sigmoid_focal_loss`) over all valid points and classes, 1-D DIoU
over the positive points, both divided by an exponential moving average of the positive count.

Data-sample contract (dicts or data elements, one per video; what the TAD datasets give):

* ``feat_grid``: :class:`tasks.tad.grid.FeatureGrid` (or its dict) of the video's features; converts the
  ground truth to grid units and the predictions to seconds;
* ``num_feats`` (int, optional): valid length when the batch is padded (default: all of ``T``);
* training: ``gt_segments`` ``(N, 2)`` seconds and ``gt_labels`` ``(N,)`` class indices;
* prediction: ``video_name`` (passed through) and ``duration`` (optional, seconds: predictions are clipped to it).

``predict`` returns one :class:`mmengine.structures.BaseDataElement` per video with ``video_name`` and
``pred_instances`` (``segments`` ``(K, 2)`` seconds, ``labels`` ``(K,)``, ``scores`` ``(K,)``): the contract of
:class:`tasks.tad.metric.TADmAP`.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement, InstanceData
from timm.layers import DropPath
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from backbones.registry import MODELS

from .grid import FeatureGrid
from .nms import batched_nms_1d
from .postprocess import VideoClassifierScores, fuse_video_classes

__all__ = ['ActionFormer', 'diou_loss_1d', 'local_window_mask']

INF = 1e8
#: ActionFormer's regression ranges (feature-grid units) for the 6 levels.
REGRESSION_RANGE = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, INF))


def diou_loss_1d(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """1-D Distance-IoU loss between segments given as distances from the same point.

    Args:
        pred (torch.Tensor): ``(N, 2)`` predicted distances (to the start, to the end), >= 0.
        target (torch.Tensor): ``(N, 2)`` target distances.

    Returns:
        torch.Tensor: ``(N,)`` ``1 - IoU + (centre distance / enclosing length)^2``.
    """
    inter = torch.minimum(pred[:, 0], target[:, 0]) + torch.minimum(pred[:, 1], target[:, 1])
    union = pred.sum(1) + target.sum(1) - inter
    iou = inter / union.clamp(min=eps)
    enclosing = torch.maximum(pred[:, 0], target[:, 0]) + torch.maximum(pred[:, 1], target[:, 1])
    centre_gap = 0.5 * ((pred[:, 1] - pred[:, 0]) - (target[:, 1] - target[:, 0]))
    return 1 - iou + (centre_gap / enclosing.clamp(min=eps)) ** 2


def local_window_mask(length: int, window: Optional[int], key_mask: torch.Tensor) -> torch.Tensor:
    """Boolean attention mask: query ``i`` may see key ``j`` when ``|i - j| <= window // 2`` (any distance when
    ``window`` is None or < 1) and ``j`` is not padding; every query sees itself (no empty rows).

    Args:
        length (int): Sequence length ``T``.
        window (int, optional): Window size.
        key_mask (torch.Tensor): ``(B, T)`` bool, True for valid positions.

    Returns:
        torch.Tensor: ``(B, 1, T, T)`` bool.
    """
    pos = torch.arange(length, device=key_mask.device)
    allowed = key_mask[:, None, None, :]
    if window is not None and window >= 1:
        allowed = allowed & ((pos[:, None] - pos[None, :]).abs() <= window // 2)
    return allowed | torch.eye(length, dtype=torch.bool, device=key_mask.device)


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of a ``(B, C, T)`` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class MaskedConv1d(nn.Conv1d):
    """Conv1d whose output is zero at padded positions; with stride ``s`` the mask keeps every ``s``-th step.

    Forward: ``x (B, C, T)``, ``mask (B, T)`` bool -> ``(B, C', T / s)``, ``(B, T / s)``.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        stride = self.stride[0]
        if stride > 1:
            mask = mask[:, ::stride]
        return super().forward(x) * mask[:, None].to(x.dtype), mask


class LocalAttention(nn.Module):
    """Multi-head self-attention within a local window; ``stride`` 2 halves the length (queries, keys and values
    through strided depthwise convolutions, as ActionFormer's downsampling blocks).

    Args:
        dim (int): Channels.
        num_heads (int): Heads.
        window (int, optional): Window size (None: global).
        stride (int): 1 or 2.
        attn_drop (float): Attention dropout.
        proj_drop (float): Output dropout.
    """

    def __init__(self, dim: int, num_heads: int, window: Optional[int], stride: int = 1, attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        assert dim % num_heads == 0, f'LocalAttention: dim {dim} is not divisible by num_heads {num_heads}'
        self.num_heads, self.window, self.attn_drop = num_heads, window, attn_drop
        self.dw = nn.ModuleList(MaskedConv1d(dim, dim, 3, stride, 1, groups=dim, bias=False) for _ in range(3))
        self.dw_norm = nn.ModuleList(ChannelNorm(dim) for _ in range(3))
        self.qkv = nn.ModuleList(nn.Conv1d(dim, dim, 1) for _ in range(3))
        self.proj = nn.Conv1d(dim, dim, 1)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, T)``, ``mask (B, T)`` -> ``(B, C, T')``, ``(B, T')``."""
        q, k, v = [], [], []
        for dw, norm, lin, out in zip(self.dw, self.dw_norm, self.qkv, (q, k, v)):
            y, out_mask = dw(x, mask)
            y = lin(norm(y))                                                     # (B, C, T')
            b, c, t = y.shape
            out.append(y.reshape(b, self.num_heads, c // self.num_heads, t).transpose(2, 3))  # (B, H, T', d)
        attn_mask = local_window_mask(t, self.window, out_mask)
        y = F.scaled_dot_product_attention(q[0], k[0], v[0], attn_mask=attn_mask,
                                           dropout_p=self.attn_drop if self.training else 0.)
        y = y.transpose(2, 3).reshape(b, c, t)
        return self.proj_drop(self.proj(y)) * out_mask[:, None].to(y.dtype), out_mask


class TransformerBlock(nn.Module):
    """Pre-norm transformer block on ``(B, C, T)`` with local attention; ``stride`` 2 halves the length (the skip
    path through max pooling)."""

    def __init__(self, dim: int, num_heads: int, window: Optional[int], stride: int = 1, mlp_ratio: float = 4.,
                 drop_path: float = 0., attn_drop: float = 0., proj_drop: float = 0.):
        super().__init__()
        self.norm1, self.norm2 = ChannelNorm(dim), ChannelNorm(dim)
        self.attn = LocalAttention(dim, num_heads, window, stride, attn_drop, proj_drop)
        self.skip = nn.MaxPool1d(3, stride, 1) if stride > 1 else nn.Identity()
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Conv1d(dim, hidden, 1), nn.GELU(), nn.Dropout(proj_drop),
                                 nn.Conv1d(hidden, dim, 1), nn.Dropout(proj_drop))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        y, mask = self.attn(self.norm1(x), mask)
        keep = mask[:, None].to(x.dtype)
        x = self.skip(x) * keep + self.drop_path(y)
        x = x + self.drop_path(self.mlp(self.norm2(x)) * keep)
        return x, mask


class ConvHead(nn.Module):
    """``num_layers - 1`` x (masked conv1d, LayerNorm, ReLU) and a masked conv1d to ``out_channels``; applied to
    every pyramid level with the same weights."""

    def __init__(self, in_channels: int, feat_channels: int, out_channels: int, num_layers: int = 3,
                 kernel_size: int = 3):
        super().__init__()
        self.convs = nn.ModuleList(MaskedConv1d(in_channels if i == 0 else feat_channels, feat_channels, kernel_size,
                                                padding=kernel_size // 2, bias=False) for i in range(num_layers - 1))
        self.norms = nn.ModuleList(ChannelNorm(feat_channels) for _ in range(num_layers - 1))
        self.out = MaskedConv1d(feat_channels if num_layers > 1 else in_channels, out_channels, kernel_size,
                                padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x, mask)[0]))
        return self.out(x, mask)[0]


def _get(sample, key: str, default=None):
    if isinstance(sample, dict):
        return sample.get(key, default)
    if isinstance(sample, BaseDataElement):
        return sample.get(key, default)
    return getattr(sample, key, default)


@MODELS.register_module()
class ActionFormer(BaseModel):
    """ActionFormer-style temporal action detector (module docstring: architecture, targets, data contract).

    Args:
        in_channels (int): Feature channels ``C`` of the input ``[B, C, T]`` (VideoMAE V2-g: 1408).
        num_classes (int): Action classes.
        embed_dims (int): Transformer width (THUMOS14 512, ActivityNet 256).
        num_heads (int): Attention heads.
        arch (tuple): (embedding convs, stem blocks, downsampling blocks); levels = ``arch[2] + 1``.
        window_size (int | Sequence[int | None]): Local attention window per level (stem = level 0); None or -1
            for global attention. THUMOS14: 19.
        mlp_ratio (float): MLP width / ``embed_dims``.
        head_dims (int): Head width. head_layers (int): Convs per head, the output conv included.
        head_kernel (int): Head kernel size. embed_kernel (int): Embedding kernel size.
        regression_range (Sequence[tuple]): (min, max) largest boundary distance per level, grid units.
        center_sample_radius (float): Centre region radius in strides.
        cls_prior (float): Initial foreground probability of the classifier.
        focal_alpha (float), focal_gamma (float): Focal loss parameters.
        reg_loss_weight (float): Weight of the DIoU loss.
        label_smoothing (float): Smoothing of the classification targets.
        init_loss_norm (float): Initial value of the positive-count EMA. loss_norm_momentum (float): Its momentum.
        drop_path (float), attn_drop (float), proj_drop (float): Regularisation in the transformer blocks.
        test_cfg (dict): ``pre_nms_thresh`` (0.001), ``pre_nms_topk`` (2000 per level), ``duration_thresh`` (0.05,
            grid units), ``nms`` (kwargs of :func:`tasks.tad.nms.batched_nms_1d`: method 'soft', sigma 0.5,
            min_score 0.001, max_segments 200, multiclass True; ActivityNet's class-agnostic setting:
            ``multiclass=False, voting_thresh=0.9``-like values), ``external_classifier`` (None, or
            ``dict(path=JSON, topk=2, mode='product')``: class-agnostic segments (``num_classes=1``) take the
            video classifier's best classes, :func:`tasks.tad.postprocess.fuse_video_classes`; labels are then
            class names).
        data_preprocessor (dict, optional): MMEngine data preprocessor (default moves data to the device).
    """

    def __init__(self, in_channels: int, num_classes: int, embed_dims: int = 512, num_heads: int = 4,
                 arch: Sequence[int] = (2, 2, 5), window_size: Union[int, Sequence[Optional[int]], None] = 19,
                 mlp_ratio: float = 4., head_dims: int = 512, head_layers: int = 3, head_kernel: int = 3,
                 embed_kernel: int = 3, regression_range: Sequence[Tuple[float, float]] = REGRESSION_RANGE,
                 center_sample_radius: float = 1.5, cls_prior: float = 0.01, focal_alpha: float = 0.25,
                 focal_gamma: float = 2.0, reg_loss_weight: float = 1.0, label_smoothing: float = 0.0,
                 init_loss_norm: float = 100., loss_norm_momentum: float = 0.9, drop_path: float = 0.1,
                 attn_drop: float = 0., proj_drop: float = 0., test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if len(arch) != 3:
            raise ValueError(f'ActionFormer: arch is (embedding convs, stem blocks, downsampling blocks), got {arch}')
        self.num_levels = arch[2] + 1
        if len(regression_range) != self.num_levels:
            raise ValueError(f'ActionFormer: regression_range has {len(regression_range)} levels, arch {tuple(arch)} '
                             f'gives {self.num_levels}')
        windows = list(window_size) if isinstance(window_size, (list, tuple)) else [window_size] * self.num_levels
        if len(windows) != self.num_levels:
            raise ValueError(f'ActionFormer: window_size has {len(windows)} entries for {self.num_levels} levels')
        self.in_channels, self.num_classes = in_channels, num_classes
        self.strides = [2 ** i for i in range(self.num_levels)]
        self.regression_range = [tuple(float(v) for v in r) for r in regression_range]
        self.center_sample_radius, self.focal_alpha, self.focal_gamma = center_sample_radius, focal_alpha, focal_gamma
        self.reg_loss_weight, self.label_smoothing, self.loss_norm_momentum = (reg_loss_weight, label_smoothing,
                                                                              loss_norm_momentum)
        self.register_buffer('loss_norm', torch.tensor(float(init_loss_norm)))
        self.test_cfg = dict(pre_nms_thresh=0.001, pre_nms_topk=2000, duration_thresh=0.05,
                             nms=dict(method='soft', sigma=0.5, min_score=0.001, max_segments=200, multiclass=True),
                             external_classifier=None)
        self._video_classifier = None
        for key, value in (test_cfg or {}).items():
            if key not in self.test_cfg:
                raise ValueError(f'ActionFormer: test_cfg.{key} is unknown; known: {sorted(self.test_cfg)}')
            self.test_cfg[key] = {**self.test_cfg['nms'], **value} if key == 'nms' else value

        self.embed = nn.ModuleList(MaskedConv1d(in_channels if i == 0 else embed_dims, embed_dims, embed_kernel,
                                                padding=embed_kernel // 2, bias=False) for i in range(arch[0]))
        self.embed_norm = nn.ModuleList(ChannelNorm(embed_dims) for _ in range(arch[0]))
        dpr = dict(drop_path=drop_path, attn_drop=attn_drop, proj_drop=proj_drop, mlp_ratio=mlp_ratio)
        self.stem = nn.ModuleList(TransformerBlock(embed_dims, num_heads, windows[0], 1, **dpr)
                                  for _ in range(arch[1]))
        self.branch = nn.ModuleList(TransformerBlock(embed_dims, num_heads, windows[i + 1], 2, **dpr)
                                    for i in range(arch[2]))
        self.neck_norm = nn.ModuleList(ChannelNorm(embed_dims) for _ in range(self.num_levels))
        self.cls_head = ConvHead(embed_dims, head_dims, num_classes, head_layers, head_kernel)
        self.reg_head = ConvHead(embed_dims, head_dims, 2, head_layers, head_kernel)
        self.scales = nn.Parameter(torch.ones(self.num_levels))
        nn.init.constant_(self.cls_head.out.bias, -math.log((1 - cls_prior) / cls_prior))

    # -- network ---------------------------------------------------------------------------------------------
    def _batch(self, inputs, data_samples) -> Tuple[torch.Tensor, torch.Tensor]:
        """Features ``(B, C, T)`` (or a list of ``(C, T_i)``) -> zero-padded ``(B, C, T')`` with ``T'`` a multiple
        of the coarsest stride, and the valid mask ``(B, T')``."""
        if isinstance(inputs, (list, tuple)):
            lengths = [x.shape[-1] for x in inputs]
            feats = inputs[0].new_zeros(len(inputs), inputs[0].shape[0], max(lengths))
            for f, x in zip(feats, inputs):
                f[:, :x.shape[-1]] = x
        else:
            feats = inputs
            lengths = [feats.shape[-1]] * feats.shape[0]
        if feats.ndim != 3 or feats.shape[1] != self.in_channels:
            raise ValueError(f'ActionFormer: expected features [B, {self.in_channels}, T], got {tuple(feats.shape)}')
        if data_samples is not None:
            lengths = [min(int(_get(s, 'num_feats', n) or n), n) for s, n in zip(data_samples, lengths)]
        step = self.strides[-1]
        total = -(-feats.shape[-1] // step) * step
        feats = F.pad(feats, (0, total - feats.shape[-1]))
        mask = torch.arange(total, device=feats.device)[None] < torch.tensor(lengths, device=feats.device)[:, None]
        return feats * mask[:, None].to(feats.dtype), mask

    def extract(self, feats: torch.Tensor, mask: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Embedding, stem and downsampling blocks, level norms.

        Args:
            feats (torch.Tensor): ``(B, C, T)``, ``T`` a multiple of ``2 ** (levels - 1)``.
            mask (torch.Tensor): ``(B, T)`` bool.

        Returns:
            tuple: pyramid features ``[(B, D, T / 2**l)]`` and masks ``[(B, T / 2**l)]``, one per level.
        """
        x = feats
        for conv, norm in zip(self.embed, self.embed_norm):
            x = F.relu(norm(conv(x, mask)[0]))
        for block in self.stem:
            x, mask = block(x, mask)
        levels, masks = [x], [mask]
        for block in self.branch:
            x, mask = block(x, mask)
            levels.append(x)
            masks.append(mask)
        return [norm(f) * m[:, None].to(f.dtype) for norm, f, m in zip(self.neck_norm, levels, masks)], masks

    def heads(self, levels, masks) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shared heads over the levels, concatenated along time.

        Returns:
            tuple: ``cls_logits (B, P, num_classes)``, ``offsets (B, P, 2)`` (distances in strides, >= 0) and
            ``mask (B, P)``, ``P`` = total points of all levels.
        """
        logits, offsets = [], []
        for lvl, (f, m) in enumerate(zip(levels, masks)):
            logits.append(self.cls_head(f, m).transpose(1, 2))
            offsets.append(F.relu(self.scales[lvl] * self.reg_head(f, m)).transpose(1, 2))
        return torch.cat(logits, 1), torch.cat(offsets, 1), torch.cat(masks, 1)

    def points(self, lengths: Sequence[int], device=None) -> torch.Tensor:
        """Points of all levels: ``(P, 4)`` = (position in grid units ``t * stride``, range min, range max,
        stride)."""
        rows = []
        for n, stride, (lo, hi) in zip(lengths, self.strides, self.regression_range):
            pos = torch.arange(n, device=device, dtype=torch.float32) * stride
            rows.append(torch.stack([pos, pos.new_full((n,), lo), pos.new_full((n,), hi), pos.new_full((n,), stride)],
                                    1))
        return torch.cat(rows)

    # -- targets and losses ----------------------------------------------------------------------------------
    @torch.no_grad()
    def assign(self, points: torch.Tensor, gt_segments: torch.Tensor,
               gt_labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Targets of one video.

        Args:
            points (torch.Tensor): ``(P, 4)`` from :meth:`points`.
            gt_segments (torch.Tensor): ``(N, 2)`` start / end in grid units.
            gt_labels (torch.Tensor): ``(N,)`` class indices.

        Returns:
            tuple: ``cls_targets (P, num_classes)`` in {0, 1} and ``reg_targets (P, 2)`` (distances to the start /
            end of the assigned segment in strides; meaningful where ``cls_targets`` has a 1).
        """
        num_pts = points.shape[0]
        if gt_segments.numel() == 0:
            return points.new_zeros(num_pts, self.num_classes), points.new_zeros(num_pts, 2)
        pos, lo, hi, stride = points[:, 0, None], points[:, 1, None], points[:, 2, None], points[:, 3, None]
        start, end = gt_segments[None, :, 0], gt_segments[None, :, 1]                 # (1, N)
        dist = torch.stack([pos - start, end - pos], -1)                                 # (P, N, 2)
        centre = 0.5 * (start + end)
        radius = stride * self.center_sample_radius
        in_centre = torch.minimum(pos - torch.maximum(centre - radius, start),
                                  torch.minimum(centre + radius, end) - pos) > 0         # (P, N)
        reach = dist.max(-1).values
        in_range = (reach >= lo) & (reach <= hi)
        lengths = (end - start).expand(num_pts, -1).masked_fill(~(in_centre & in_range), float('inf'))
        shortest, which = lengths.min(1)                                                 # (P,)
        chosen = (lengths <= shortest[:, None] + 1e-3) & torch.isfinite(lengths)        # (P, N) multi-label ties
        onehot = F.one_hot(gt_labels.long(), self.num_classes).to(points.dtype)         # (N, C)
        cls_targets = (chosen.to(points.dtype) @ onehot).clamp(max=1)
        reg_targets = dist[torch.arange(num_pts, device=points.device), which] / stride
        return cls_targets, reg_targets

    def _gt_in_grid(self, sample) -> Tuple[torch.Tensor, torch.Tensor]:
        name = _get(sample, 'video_name', '?')
        segs, labels = _get(sample, 'gt_segments'), _get(sample, 'gt_labels')
        if segs is None or labels is None:
            raise KeyError(f'ActionFormer: video {name!r}: training needs gt_segments (N, 2) seconds and gt_labels')
        segs = torch.as_tensor(segs, dtype=torch.float32, device=self.loss_norm.device).reshape(-1, 2)
        labels = torch.as_tensor(labels, device=self.loss_norm.device).reshape(-1).long()
        return self._grid(sample).seconds_to_index(segs), labels

    @staticmethod
    def _grid(sample) -> FeatureGrid:
        grid = _get(sample, 'feat_grid')
        if grid is None:
            raise KeyError(f'ActionFormer: video {_get(sample, "video_name", "?")!r}: data sample has no feat_grid '
                           '(FeatureGrid of its features)')
        return grid if isinstance(grid, FeatureGrid) else FeatureGrid.from_dict(dict(grid))

    def loss(self, inputs, data_samples) -> Dict[str, torch.Tensor]:
        """Focal and DIoU losses, divided by the EMA of the positive count (updated here)."""
        feats, mask = self._batch(inputs, data_samples)
        levels, masks = self.extract(feats, mask)
        logits, offsets, valid = self.heads(levels, masks)
        points = self.points([m.shape[1] for m in masks], feats.device)
        targets = [self.assign(points, *self._gt_in_grid(s)) for s in data_samples]
        cls_t = torch.stack([t[0] for t in targets])                                     # (B, P, C)
        reg_t = torch.stack([t[1] for t in targets])                                     # (B, P, 2)
        positive = (cls_t.sum(-1) > 0) & valid
        num_pos = positive.sum().to(self.loss_norm.dtype)
        if self.training:  # EMA without a host sync
            self.loss_norm.mul_(self.loss_norm_momentum).add_((1 - self.loss_norm_momentum) * num_pos.clamp(min=1))
        norm = self.loss_norm.clone()  # later in-place updates (gradient accumulation) must not touch this graph
        target = cls_t[valid] * (1 - self.label_smoothing) + self.label_smoothing / (self.num_classes + 1)
        # losses in float32 also under bf16 / fp16 autocast
        loss_cls = sigmoid_focal_loss(logits[valid].float(), target.float(), self.focal_alpha, self.focal_gamma,
                                      reduction='sum')
        loss_reg = diou_loss_1d(offsets[positive].float(), reg_t[positive].float()).sum()
        return dict(loss_cls=loss_cls / norm, loss_reg=self.reg_loss_weight * loss_reg / norm)

    # -- inference -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, inputs, data_samples) -> List[BaseDataElement]:
        """Segments in seconds per video after score filtering, per-level top-k and NMS."""
        feats, mask = self._batch(inputs, data_samples)
        levels, masks = self.extract(feats, mask)
        logits, offsets, valid = self.heads(levels, masks)
        lengths = [m.shape[1] for m in masks]
        points = self.points(lengths, feats.device)
        level_of = torch.repeat_interleave(torch.arange(len(lengths), device=feats.device),
                                           torch.tensor(lengths, device=feats.device))
        cfg = self.test_cfg
        out = []
        for b, sample in enumerate(data_samples):
            prob = logits[b].float().sigmoid() * valid[b, :, None]                      # (P, C)
            segs, scores, labels = [], [], []
            for lvl in range(len(lengths)):
                sel = (level_of == lvl).nonzero()[:, 0]
                p = prob[sel].flatten()
                keep = (p > cfg['pre_nms_thresh']).nonzero()[:, 0]
                top = p[keep].topk(min(cfg['pre_nms_topk'], keep.numel()))
                flat = keep[top.indices]
                pt, cls = sel[flat // self.num_classes], flat % self.num_classes
                centre, stride = points[pt, 0], points[pt, 3]
                off = offsets[b, pt].float()
                seg = torch.stack([centre - off[:, 0] * stride, centre + off[:, 1] * stride], 1)
                long_enough = (seg[:, 1] - seg[:, 0]) > cfg['duration_thresh']
                segs.append(seg[long_enough])
                scores.append(top.values[long_enough])
                labels.append(cls[long_enough])
            seg, score, label = batched_nms_1d(torch.cat(segs), torch.cat(scores), torch.cat(labels), **cfg['nms'])
            if cfg['external_classifier']:
                seg, score, label = self._fuse(sample, seg, score)
            else:
                label = label.cpu()
            seconds = self._grid(sample).index_to_seconds(seg.float()).clamp(min=0)
            duration = _get(sample, 'duration')
            if duration is not None:
                seconds = seconds.clamp(max=float(duration))
            out.append(BaseDataElement(
                metainfo=dict(video_name=_get(sample, 'video_name')),
                pred_instances=InstanceData(segments=seconds.cpu(), scores=score.float().cpu(), labels=label)))
        return out

    def _fuse(self, sample, segments, scores):
        cfg = dict(self.test_cfg['external_classifier'])
        path = cfg.pop('path')
        if self._video_classifier is None:
            self._video_classifier = VideoClassifierScores(path)
        clf = self._video_classifier
        return fuse_video_classes(segments, scores, clf(_get(sample, 'video_name')), clf.classes, **cfg)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        """``mode='loss'``: dict of losses; ``'predict'``: data elements with ``pred_instances`` (seconds);
        ``'tensor'``: ``(cls_logits (B, P, C), offsets (B, P, 2), mask (B, P))``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.heads(*self.extract(*self._batch(inputs, data_samples)))
        raise ValueError(f"ActionFormer: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
