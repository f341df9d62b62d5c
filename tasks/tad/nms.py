"""1-D non-maximum suppression for temporal segments on the tensor's device, no compiled extension.

* :func:`soft_nms`: Gaussian Soft-NMS (Bodla et al. 2017) as ActionFormer post-processes: pick the highest
  score, decay every other score of the same class by ``exp(-tIoU^2 / sigma)``, drop scores below
  ``min_score``, repeat; at most ``max_segments`` picks per class, then the best ``max_segments`` overall.
  All classes run at once (one padded row per class); the only Python loop is over the pick count, each
  step a few tensor operations.
* :func:`hard_nms`: classic NMS through :func:`torchvision.ops.batched_nms` on segments lifted to unit-height
  boxes ``[start, 0, end, 1]`` (their box IoU is the segments' tIoU).
* :func:`segment_voting`: refine kept segments as the score-weighted mean of the input segments overlapping them
  (ActionFormer's class-agnostic ActivityNet setting).
* :func:`batched_nms_1d`: either NMS, selected by ``method``, plus optional voting; the detector calls this.

Ties: among equal scores the segment that comes first in the input wins (``torch.argmax`` returns the first
maximum); the final ranking is a stable descending sort of the per-class picks, classes in ascending id order.
"""
from typing import Tuple

import torch
from torchvision.ops import batched_nms

__all__ = ['segment_tiou', 'soft_nms', 'hard_nms', 'segment_voting', 'batched_nms_1d']

Result = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def segment_tiou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise (broadcast) temporal IoU.

    Args:
        a (torch.Tensor): ``(..., 2)`` start / end.
        b (torch.Tensor): ``(..., 2)`` start / end, broadcastable with ``a``.

    Returns:
        torch.Tensor: ``(...)`` tIoU; 0 where the union is empty.
    """
    inter = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))


def _check(segments: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> None:
    if segments.ndim != 2 or segments.shape[1] != 2 or scores.shape != segments.shape[:1] \
            or labels.shape != segments.shape[:1]:
        raise ValueError(f'NMS expects segments (N, 2), scores (N,), labels (N,); got {tuple(segments.shape)}, '
                         f'{tuple(scores.shape)}, {tuple(labels.shape)}')


def _finish(segments, scores, labels, max_segments: int) -> Result:
    order = torch.sort(scores, descending=True, stable=True).indices[:max_segments]
    return segments[order], scores[order], labels[order]


def soft_nms(segments: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, sigma: float = 0.5,
             min_score: float = 1e-3, max_segments: int = 200, multiclass: bool = True) -> Result:
    """Gaussian Soft-NMS, all classes at once.

    Args:
        segments (torch.Tensor): ``(N, 2)`` start / end (any unit: grid positions or seconds).
        scores (torch.Tensor): ``(N,)`` scores; below ``min_score`` they are dropped before NMS.
        labels (torch.Tensor): ``(N,)`` int class ids.
        sigma (float): Gaussian width: a score is multiplied by ``exp(-tIoU^2 / sigma)``.
        min_score (float): Segments whose (decayed) score falls below this are dropped.
        max_segments (int): Picks per class, and segments returned in total.
        multiclass (bool): Suppress within each class (True) or across all classes (False).

    Returns:
        tuple: ``segments (K, 2)``, decayed ``scores (K,)``, ``labels (K,)``, by descending score, ``K <=
        max_segments``; on the input's device.
    """
    _check(segments, scores, labels)
    if sigma <= 0:
        raise ValueError(f'soft_nms: sigma must be > 0, got {sigma}')
    keep = scores >= min_score
    segments, scores, labels = segments[keep], scores[keep], labels[keep]
    if scores.numel() == 0 or max_segments <= 0:
        return segments[:0], scores[:0], labels[:0]
    groups = labels if multiclass else torch.zeros_like(labels)
    classes, row, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    num_rows, width = classes.numel(), int(counts.max())
    # column of each segment inside its class row, input order kept (stable sort by row)
    order = torch.sort(row, stable=True).indices
    starts = torch.cumsum(counts, 0) - counts
    col = torch.empty_like(row)
    col[order] = torch.arange(row.numel(), device=row.device) - starts[row[order]]
    pad_segs = segments.new_zeros(num_rows, width, 2)
    pad_segs[row, col] = segments
    work = scores.new_full((num_rows, width), float('-inf'))
    work[row, col] = scores
    index = torch.full((num_rows, width), -1, dtype=torch.long, device=scores.device)
    index[row, col] = torch.arange(scores.numel(), device=scores.device)
    rows = torch.arange(num_rows, device=scores.device)
    picks, picked_scores = [], []
    for _ in range(min(max_segments, width)):
        best_score, best = work.max(dim=1)                             # (R,) first maximum on ties
        alive = best_score >= min_score
        if not bool(alive.any()):
            break
        picks.append(torch.where(alive, index[rows, best], -1))
        picked_scores.append(best_score)
        decay = torch.exp(-segment_tiou(pad_segs[rows, best][:, None], pad_segs) ** 2 / sigma)  # (R, W)
        work = work * decay
        work[rows, best] = float('-inf')
        work = work.masked_fill(work < min_score, float('-inf'))
    if not picks:
        return segments[:0], scores[:0], labels[:0]
    picks = torch.stack(picks, 1).reshape(-1)                           # class-major: row 0's picks, row 1's, ...
    picked_scores = torch.stack(picked_scores, 1).reshape(-1)
    valid = picks >= 0
    picks, picked_scores = picks[valid], picked_scores[valid]
    return _finish(segments[picks], picked_scores, labels[picks], max_segments)


def hard_nms(segments: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float = 0.5,
             min_score: float = 1e-3, max_segments: int = 200, multiclass: bool = True) -> Result:
    """Classic NMS: drop segments whose tIoU with a higher-scored kept one (same class if ``multiclass``) is
    greater than ``iou_threshold``; :func:`torchvision.ops.batched_nms` on unit-height boxes.

    Args and returns as :func:`soft_nms` (scores unchanged).
    """
    _check(segments, scores, labels)
    keep = scores >= min_score
    segments, scores, labels = segments[keep], scores[keep], labels[keep]
    zeros, ones = segments.new_zeros(len(segments)), segments.new_ones(len(segments))
    boxes = torch.stack([segments[:, 0], zeros, segments[:, 1], ones], dim=1)
    kept = batched_nms(boxes, scores, labels if multiclass else torch.zeros_like(labels), iou_threshold)
    return _finish(segments[kept], scores[kept], labels[kept], max_segments)


def segment_voting(kept: torch.Tensor, segments: torch.Tensor, scores: torch.Tensor,
                   iou_threshold: float) -> torch.Tensor:
    """Replace each kept segment by the score-weighted mean of the input segments whose tIoU with it is
    ``>= iou_threshold`` (itself included when it is one of them).

    Args:
        kept (torch.Tensor): ``(K, 2)`` segments after NMS.
        segments (torch.Tensor): ``(N, 2)`` segments before NMS.
        scores (torch.Tensor): ``(N,)`` their scores.
        iou_threshold (float): Overlap needed to vote.

    Returns:
        torch.Tensor: ``(K, 2)`` refined segments (a kept segment without voters stays as it is).
    """
    weights = (segment_tiou(kept[:, None], segments[None]) >= iou_threshold).to(scores.dtype) * scores[None]
    total = weights.sum(1, keepdim=True)
    refined = (weights @ segments) / total.clamp(min=torch.finfo(scores.dtype).tiny)
    return torch.where(total > 0, refined, kept)


def batched_nms_1d(segments: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, method: str = 'soft',
                   sigma: float = 0.5, iou_threshold: float = 0.5, min_score: float = 1e-3, max_segments: int = 200,
                   multiclass: bool = True, voting_thresh: float = 0.) -> Result:
    """:func:`soft_nms` (``method='soft'``, uses ``sigma``) or :func:`hard_nms` (``'hard'``, uses
    ``iou_threshold``), then, when ``voting_thresh > 0``, :func:`segment_voting` of the kept segments against the
    input (ActionFormer applies it in the class-agnostic setting, ``multiclass=False``); other args as
    :func:`soft_nms`."""
    if method == 'soft':
        out = soft_nms(segments, scores, labels, sigma, min_score, max_segments, multiclass)
    elif method == 'hard':
        out = hard_nms(segments, scores, labels, iou_threshold, min_score, max_segments, multiclass)
    else:
        raise ValueError(f"NMS method must be 'soft' or 'hard', got {method!r}")
    if voting_thresh > 0 and out[0].numel():
        out = (segment_voting(out[0], segments, scores, voting_thresh),) + tuple(out[1:])
    return out
