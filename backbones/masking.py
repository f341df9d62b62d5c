"""Token masks for masked video pretraining, as pure functions.

Every function returns a bool mask (B, N) over the (t, h, w) raster of tokens with **True = masked**
(hidden from the encoder, or for the decoder mask: not decoded), and every mask hides the same number of
tokens in every sample, a number known from the ratio alone (:func:`num_visible`). So the index of the kept
tokens is :func:`mask_to_index` ``(mask, num_visible)`` without a host synchronisation, and the
same functions run on the device inside a model or on the CPU in a data pipeline (see
:mod:`tasks.datasets.transforms`).

=================  ========================================================================================
tube               VideoMAE: ``int(ratio * H*W)`` random tokens per frame, the same in every temporal slot
running_cell       VideoMAE V2 decoder mask: a 2x2 cell from the queue ``[1]*m + [0]*(4-m)`` (``m = int(4 *
                   ratio)``), rolled by one per temporal slot; one of 4 phases per sample
random             ``int(ratio * N)`` random tokens over the whole clip
semantic           UMT: per frame, keep ``HW - int(ratio * HW)`` tokens drawn without replacement with
                   probability proportional to the teacher's CLS->patch attention
=================  ========================================================================================
"""
from typing import Optional, Sequence, Tuple

import torch

__all__ = [
    'MASK_TYPES', 'num_masked', 'num_visible', 'tube_mask', 'running_cell_mask', 'running_cell_phases',
    'random_mask', 'semantic_mask', 'semantic_mask_multinomial', 'make_mask', 'mask_to_index'
]

MASK_TYPES = ('tube', 'running_cell', 'random')  # semantic masks need teacher attention: semantic_mask()

Grid = Tuple[int, int, int]


def _check_grid(grid: Sequence[int]) -> Grid:
    if len(grid) != 3 or any(int(g) < 1 for g in grid):
        raise ValueError(f'grid must be (T\', H\', W\') of positive ints, got {grid}')
    return tuple(int(g) for g in grid)


def _check_ratio(ratio: float) -> float:
    if not 0. <= ratio < 1.:
        raise ValueError(f'mask ratio must be in [0, 1), got {ratio}')
    return float(ratio)


def _cell_masks(ratio: float) -> int:
    m = int(4 * _check_ratio(ratio))
    if not 0 < m < 4:
        raise ValueError(f'running-cell masking needs a ratio in {{0.25, 0.5, 0.75}} (int(4*ratio) in 1..3), '
                         f'got {ratio}')
    return m


def num_masked(mask_type: str, grid: Sequence[int], ratio: float) -> int:
    """Number of masked tokens per sample of a mask type at a ratio on a token grid (as the official code
    rounds: per frame for tube / semantic / running-cell masks, per clip for random masks)."""
    t, h, w = _check_grid(grid)
    if mask_type in ('tube', 'semantic'):
        return t * int(_check_ratio(ratio) * h * w)
    if mask_type == 'running_cell':
        if h % 2 or w % 2:
            raise ValueError(f'running-cell masking needs an even token grid H\'xW\', got {h}x{w}')
        return t * (h * w // 4) * _cell_masks(ratio)
    if mask_type == 'random':
        return int(_check_ratio(ratio) * t * h * w)
    raise ValueError(f"unknown mask type {mask_type!r}; choose one of {MASK_TYPES + ('semantic',)}")


def num_visible(mask_type: str, grid: Sequence[int], ratio: float) -> int:
    """Number of unmasked tokens per sample (``N - num_masked``)."""
    t, h, w = _check_grid(grid)
    return t * h * w - num_masked(mask_type, grid, ratio)


def _topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """(..., M) scores -> bool mask, True at the ``k`` highest scores of each row."""
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if k > 0:
        mask.scatter_(-1, scores.topk(k, dim=-1, sorted=False).indices, True)
    return mask


def tube_mask(batch: int, grid: Sequence[int], ratio: float, device=None,
              generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Tube mask: the same ``int(ratio * H'W')`` random spatial positions masked in every temporal slot.

    Returns:
        Tensor: (B, T'*H'*W') bool, True = masked.
    """
    t, h, w = _check_grid(grid)
    k = int(_check_ratio(ratio) * h * w)
    noise = torch.rand(batch, h * w, device=device, generator=generator)
    return _topk_mask(noise, k)[:, None, :].expand(batch, t, h * w).reshape(batch, t * h * w)


def random_mask(batch: int, grid: Sequence[int], ratio: float, device=None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Random mask: ``int(ratio * N)`` tokens masked uniformly over the whole clip. Returns (B, N) bool."""
    t, h, w = _check_grid(grid)
    n = t * h * w
    noise = torch.rand(batch, n, device=device, generator=generator)
    return _topk_mask(noise, int(_check_ratio(ratio) * n))


def running_cell_phases(grid: Sequence[int], ratio: float = 0.5, device=None) -> torch.Tensor:
    """The 4 precomputed running-cell masks of the official generator.

    Cell queue ``q = [1]*m + [0]*(4-m)`` with ``m = int(4 * ratio)``; for phase ``s`` the 2x2 cell of temporal
    slot ``t`` is ``q[(j + s + t + 1) % 4]`` at position ``j = 2*(h % 2) + (w % 2)`` (the official pointer is
    advanced once before the first slot), tiled over the (H'/2, W'/2) cells.

    Returns:
        Tensor: (4, T'*H'*W') bool, True = masked (not decoded).
    """
    t, h, w = _check_grid(grid)
    if h % 2 or w % 2:
        raise ValueError(f'running-cell masking needs an even token grid H\'xW\', got {h}x{w}')
    m = _cell_masks(ratio)
    tt = torch.arange(t, device=device)[:, None, None]
    j = 2 * (torch.arange(h, device=device) % 2)[None, :, None] + (torch.arange(w, device=device) % 2)[None, None]
    phase = torch.arange(4, device=device)[:, None, None, None]
    return (((j + tt + phase + 1) % 4) < m).reshape(4, t * h * w)


def running_cell_mask(batch: int, grid: Sequence[int], ratio: float = 0.5, device=None,
                      generator: Optional[torch.Generator] = None,
                      phase: Optional[torch.Tensor] = None) -> torch.Tensor:
    """VideoMAE V2 decoder mask: one of the 4 :func:`running_cell_phases` per sample (uniform, or ``phase``
    (B,) int64). Returns (B, N) bool, True = not decoded; the decoder's queries are the False tokens."""
    phases = running_cell_phases(grid, ratio, device)
    if phase is None:
        phase = torch.randint(0, 4, (batch,), device=device, generator=generator)
    return phases[phase]


def semantic_mask(attn: torch.Tensor, ratio: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """UMT semantic mask on the device: per frame keep ``HW - int(ratio * HW)`` tokens drawn without
    replacement with probability proportional to ``attn`` (Gumbel top-k, which has exactly the distribution
    of ``torch.multinomial(attn, k, replacement=False)`` and needs no host synchronisation).

    Args:
        attn (Tensor): (B, T', H'W') non-negative CLS->patch attention of the teacher (rows need not sum to 1).
        ratio (float): Mask ratio (UMT: 0.8).

    Returns:
        Tensor: (B, T'*H'*W') bool, True = masked.
    """
    b, t, n = attn.shape
    keep = n - int(_check_ratio(ratio) * n)
    u = torch.rand(attn.shape, device=attn.device, generator=generator, dtype=torch.float32)
    gumbel = -torch.log(-torch.log(u.clamp_(min=1e-20, max=1 - 1e-7)))
    scores = torch.log(attn.float().clamp(min=0)) + gumbel  # log(0) = -inf: never drawn while others remain
    return ~_topk_mask(scores, keep).reshape(b, t * n)


def semantic_mask_multinomial(attn: torch.Tensor, ratio: float,
                              generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The official UMT construction: ``torch.multinomial`` without replacement per frame, keeping the first
    ``HW - int(ratio * HW)`` draws. Same distribution as :func:`semantic_mask`. Returns (B, N) bool."""
    b, t, n = attn.shape
    keep = n - int(_check_ratio(ratio) * n)
    drawn = torch.multinomial(attn.reshape(b * t, n).float(), keep, replacement=False, generator=generator)
    mask = torch.ones(b * t, n, dtype=torch.bool, device=attn.device)
    mask.scatter_(1, drawn, False)
    return mask.reshape(b, t * n)


def make_mask(mask_type: str, batch: int, grid: Sequence[int], ratio: float, device=None,
              generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Dispatch by name (``tube``, ``running_cell``, ``random``). Returns (B, N) bool, True = masked."""
    fns = dict(tube=tube_mask, running_cell=running_cell_mask, random=random_mask)
    if mask_type not in fns:
        raise ValueError(f'unknown mask type {mask_type!r}; choose one of {MASK_TYPES}')
    return fns[mask_type](batch, grid, ratio, device=device, generator=generator)


def mask_to_index(mask: torch.Tensor, count: Optional[int] = None, masked: bool = False) -> torch.Tensor:
    """Bool mask -> ascending token indices: the one mask-to-index function of VideoFM.

    Args:
        mask (Tensor): (B, N) bool, True = masked; every sample has the same number of False (True) tokens.
        count (int, optional): That number for the tokens asked for (:func:`num_visible` / :func:`num_masked`
            give it from the ratio, with no host synchronisation). None reads it from the first sample, which
            synchronises once.
        masked (bool): Indices of the True (masked) tokens instead of the False (visible) ones.

    Returns:
        Tensor: (B, count) int64.
    """
    if mask.dtype != torch.bool or mask.dim() != 2:
        raise ValueError(f'mask must be a (B, N) bool tensor, got {tuple(mask.shape)} {mask.dtype}')
    key = (~mask if masked else mask).to(torch.uint8)  # 0 = wanted: a stable sort puts them first, in order
    if count is None:
        count = int((key[0] == 0).sum())
    return torch.argsort(key, dim=1, stable=True)[:, :count]
