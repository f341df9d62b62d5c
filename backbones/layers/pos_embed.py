"""Position tables: the fixed 1-D sinusoid of VideoMAE / UMT, regenerated for any token grid.

Every fixed table comes from one cache, :func:`video_pos_table` (``sincos_table`` is its 1-D case): it is
built once per (grid, width, reference grid, dtype, device) and then shared, so a forward pass never rebuilds
it or copies it to the device. The returned tensors are shared: never modify them in place (``clone()`` to
initialise a learnable table from one).
"""
import functools
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


def _sinusoid64(num_positions: int, dim: int) -> torch.Tensor:
    """The official table in float64 on the CPU: ``sin(n / 10000^(2*(i//2)/dim))`` for even ``i``, ``cos`` for
    odd ``i``."""
    cpu = torch.device('cpu')  # explicit: a `with torch.device('meta')` block must not reach the cache
    pos = torch.arange(num_positions, dtype=torch.float64, device=cpu)[:, None]
    exponent = 2 * (torch.arange(dim, device=cpu) // 2).to(torch.float64) / dim
    angles = pos / torch.pow(10000.0, exponent)[None]
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table


@functools.lru_cache(maxsize=64)
def _cached_table(grid: Tuple[int, ...], dim: int, ref_grid: Optional[Tuple[int, int, int]],
                  dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # a plain tensor even when first asked for under inference_mode / no_grad (it is reused in training)
    with torch.inference_mode(False), torch.no_grad():
        n = 1
        for g in grid:
            n *= g
        if ref_grid is None:
            return _sinusoid64(n, dim).to(dtype=dtype, device=device)
        rt, rh, rw = ref_grid
        # as the official fine-tuning: the float32 table of the reference grid, resampled in float32
        ref = _sinusoid64(rt * rh * rw, dim).to(torch.float32)
        return resample_pos_table(ref, ref_grid, grid).to(dtype=dtype, device=device)


def sincos_table(num_positions: int, dim: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The official 1-D sinusoid table over flattened (t, h, w) token indices, computed in float64 like the
    official numpy code and cast to ``dtype`` (cached, shared: do not modify in place).

    Returns:
        Tensor: (num_positions, dim).
    """
    return video_pos_table((num_positions,), dim, None, dtype, device)


def resample_pos_table(table: torch.Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]) -> torch.Tensor:
    """Resample a (N, C) table laid out on ``src_grid`` (T, H, W) to ``dst_grid``.

    Time and space are resampled separately (linear in time, bicubic in space), as done for the learnable
    tables of fine-tuned UMT checkpoints. Returns ``table`` unchanged when the grids are equal.

    Returns:
        Tensor: (T2*H2*W2, C) in the dtype of ``table``.
    """
    src_grid, dst_grid = tuple(src_grid), tuple(dst_grid)
    if src_grid == dst_grid:
        return table
    (t, h, w), (t2, h2, w2) = src_grid, dst_grid
    if table.shape[0] != t * h * w:
        raise ValueError(f'position table has {table.shape[0]} rows, expected {t}*{h}*{w} for grid {src_grid}')
    c = table.shape[1]
    x = table.float().reshape(t, h * w, c)
    if t != t2:  # (H*W, C, T) -> linear in time
        x = F.interpolate(x.permute(1, 2, 0), size=t2, mode='linear', align_corners=False).permute(2, 0, 1)
    if (h, w) != (h2, w2):  # (T, C, H, W) -> bicubic in space
        x = x.reshape(t2, h, w, c).permute(0, 3, 1, 2)
        x = F.interpolate(x, size=(h2, w2), mode='bicubic', align_corners=False).permute(0, 2, 3, 1)
    return x.reshape(t2 * h2 * w2, c).to(table.dtype)


def video_pos_table(grid: Sequence[int], dim: int, ref_grid: Optional[Sequence[int]] = None,
                    dtype=torch.float32, device=None) -> torch.Tensor:
    """Fixed sinusoid table for a token grid (cached per grid, width, reference grid, dtype and device; shared:
    do not modify in place).

    Args:
        grid: current (T', H', W') (or (N,) for a plain 1-D table).
        dim: token width.
        ref_grid: the grid the model was pretrained on. ``None`` (VideoMAE V2 behaviour) generates the 1-D
            table over the current ``T'*H'*W'`` tokens; otherwise the reference table is resampled in time
            and space to ``grid`` (UMT behaviour), keeping each token's pretrained position meaning.

    Returns:
        Tensor: (T'*H'*W', dim).
    """
    grid = tuple(int(g) for g in grid)
    ref_grid = tuple(int(g) for g in ref_grid) if ref_grid is not None else None
    if ref_grid is not None and ref_grid == grid:
        ref_grid = None
    if ref_grid is not None and len(grid) != 3:
        raise ValueError(f'a reference grid needs a (T, H, W) grid, got {grid}')
    device = torch.device(device) if device is not None else torch.device('cpu')
    return _cached_table(grid, int(dim), ref_grid, dtype, device)
