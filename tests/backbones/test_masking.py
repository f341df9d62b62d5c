import numpy as np
import pytest
import torch

from backbones.masking import (mask_to_index, num_masked, num_visible, random_mask, running_cell_mask,
                               running_cell_phases, semantic_mask, semantic_mask_multinomial, tube_mask)


def official_running_cell(grid, ratio):
    """Direct transcription of the official generator's behaviour (queue, pointer, 4 phases)."""
    t, h, w = grid
    m = int(4 * ratio)
    queue = np.hstack([np.ones(m), np.zeros(4 - m)])
    out = []
    for start in range(4):
        ptr, frames = start, []
        for _ in range(t):
            ptr += 1
            cell = queue[(np.arange(4) + ptr) % 4].reshape(2, 2)
            frames.append(np.tile(cell, [h // 2, w // 2]).flatten())
        out.append(np.stack(frames).reshape(-1))
    return np.stack(out).astype(bool)


@pytest.mark.parametrize('ratio', [0.25, 0.5, 0.75])
def test_running_cell_matches_official_phases(ratio):
    grid = (8, 14, 14)
    phases = running_cell_phases(grid, ratio)
    np.testing.assert_array_equal(phases.numpy(), official_running_cell(grid, ratio))
    masks = running_cell_mask(16, grid, ratio)
    assert (masks.sum(1) == num_masked('running_cell', grid, ratio)).all()
    assert all(any(torch.equal(m, p) for p in phases) for m in masks)
    per_frame = masks.view(16, 8, 196).sum(-1)
    assert (per_frame == int(4 * ratio) * 49).all()
    # the cell rolls by one per temporal slot: slot t+1 of phase s == slot t of phase s+1
    p = phases.view(4, 8, 196)
    assert torch.equal(p[0, 1], p[1, 0])


def test_running_cell_rejects_bad_settings():
    with pytest.raises(ValueError):
        running_cell_phases((4, 7, 8), 0.5)
    with pytest.raises(ValueError):
        running_cell_phases((4, 8, 8), 0.1)


def test_tube_mask_identical_across_time_and_exact_count():
    grid = (8, 14, 14)
    m = tube_mask(5, grid, 0.9).view(5, 8, 196)
    assert (m == m[:, :1]).all()
    assert (m.sum(-1) == int(0.9 * 196)).all()
    assert num_visible('tube', grid, 0.9) == 8 * (196 - 176) == 160
    assert not torch.equal(m[0, 0], m[1, 0])


def test_random_mask_exact_count():
    m = random_mask(4, (8, 14, 14), 0.9)
    assert (m.sum(1) == int(0.9 * 1568)).all()


@pytest.mark.parametrize('fn', [semantic_mask, semantic_mask_multinomial])
def test_semantic_mask_keeps_top_tokens(fn):
    b, t, n, ratio = 3, 4, 49, 0.8
    keep = n - int(ratio * n)
    attn = torch.full((b, t, n), 1e-9)
    top = torch.stack([torch.randperm(n)[:keep] for _ in range(b * t)]).view(b, t, keep)
    attn.scatter_(-1, top, 1.0)
    mask = fn(attn, ratio).view(b, t, n)
    assert (mask.sum(-1) == n - keep).all()
    kept = (~mask).nonzero()
    for bi, ti, ni in kept.tolist():
        assert ni in top[bi, ti].tolist()


def test_semantic_gumbel_matches_multinomial_distribution():
    torch.manual_seed(0)
    p = torch.tensor([[[0.5, 0.25, 0.15, 0.1]]]).expand(4000, 1, 4).contiguous()
    a = (~semantic_mask(p, 0.5)).float().mean(0)
    b = (~semantic_mask_multinomial(p, 0.5)).float().mean(0)
    assert torch.allclose(a, b, atol=0.04)


def test_mask_to_index():
    mask = torch.tensor([[True, False, True, False], [False, False, True, True]])
    assert mask_to_index(mask, 2).tolist() == [[1, 3], [0, 1]]
    assert mask_to_index(mask, 2, masked=True).tolist() == [[0, 2], [2, 3]]
    assert mask_to_index(mask).tolist() == [[1, 3], [0, 1]]  # count read from the first sample
    assert mask_to_index(mask, masked=True).tolist() == [[0, 2], [2, 3]]
    with pytest.raises(ValueError, match='bool'):
        mask_to_index(mask.long(), 2)
    with pytest.raises(ValueError, match='bool'):
        mask_to_index(mask[0], 2)


def test_mask_to_index_is_the_only_one():
    """One mask-to-index function: the encoder and the pretrainers use masking.mask_to_index."""
    from backbones import umt, video_vit, videomae_v2
    assert not hasattr(video_vit, 'visible_index')
    assert video_vit.mask_to_index is umt.mask_to_index is videomae_v2.mask_to_index is mask_to_index


def test_generate_mask_transform():
    import tasks  # noqa: F401
    from backbones.registry import TRANSFORMS
    t = TRANSFORMS.build(dict(type='GenerateMask', mask_type='running_cell', ratio=0.5, grid=(2, 4, 4),
                              key='decoder_mask'))
    out = t(dict())
    assert out['decoder_mask'].shape == (32,) and out['decoder_mask'].dtype == bool and out['decoder_mask'].sum() == 16
