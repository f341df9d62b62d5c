"""Position tables: the fixed 1-D sinusoid of VideoMAE / UMT, regenerated for any token grid."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def sincos_table(num_positions: int, dim: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The official 1-D sinusoid table over flattened (t, h, w) token indices.

    ``table[n, i] = sin(n / 10000^(2*(i//2)/dim))`` for even ``i`` and ``cos(...)`` for odd ``i``,
    computed in float64 like the official numpy code and cast to ``dtype``.

    Returns:
        Tensor: (num_positions, dim).
    """
    pos = torch.arange(num_positions, dtype=torch.float64, device=device)[:, None]
    exponent = 2 * (torch.arange(dim, device=device) // 2).to(torch.float64) / dim
    angles = pos / torch.pow(10000.0, exponent)[None]
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.to(dtype)


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
    """Fixed sinusoid table for a token grid.

    Args:
        grid: current (T', H', W').
        dim: token width.
        ref_grid: the grid the model was pretrained on. ``None`` (VideoMAE V2 behaviour) generates the 1-D
            table over the current ``T'*H'*W'`` tokens; otherwise the reference table is resampled in time
            and space to ``grid`` (UMT behaviour), keeping each token's pretrained position meaning.

    Returns:
        Tensor: (T'*H'*W', dim).
    """
    t, h, w = grid
    if ref_grid is None or tuple(ref_grid) == tuple(grid):
        return sincos_table(t * h * w, dim, dtype, device)
    rt, rh, rw = ref_grid
    return resample_pos_table(sincos_table(rt * rh * rw, dim, torch.float32, device), ref_grid, grid).to(dtype)
