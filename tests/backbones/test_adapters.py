"""Temporal adapters in a frozen VideoViT (backbones/adapters.py): identity when fresh, the temporal convolution
across a window's chunks against a hand-written reference, gradients only into adapters, official checkpoints."""
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from backbones import AdapterVideoViT, TemporalAdapter, VideoViT
from backbones.pretrained import load_pretrained
from tests.backbones.test_checkpoint import official_finetune, save

TINY = dict(img_size=32, num_frames=4, patch_size=16, tubelet_size=2, embed_dim=32, depth=3, num_heads=2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions: one thread (two OpenMP threads on a busy 2-core machine wait ~50 ms per op)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pair(seed=0, **kwargs):
    torch.manual_seed(seed)
    vit = VideoViT(**TINY)
    adapted = AdapterVideoViT(**TINY, **kwargs)
    missing, unexpected = adapted.load_state_dict(vit.state_dict(), strict=False)
    assert not unexpected and all(k.startswith('adapters.') for k in missing)
    return vit, adapted


def randomise(adapter: TemporalAdapter, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))


def reference_adapter(a: TemporalAdapter, x, grid, n):
    """Per window, per spatial position: the chunks' tokens concatenated in time, a depthwise then pointwise
    convolution over that sequence, spelled out with F.conv1d and loops."""
    t, h, w = grid
    y = F.gelu(x @ a.down_proj.weight.T + a.down_proj.bias)                        # (B*n, t*h*w, c)
    out = y.clone()
    for b in range(x.shape[0] // n):
        for pos in range(h * w):
            seq = torch.cat([y[b * n + k].reshape(t, h * w, -1)[:, pos] for k in range(n)]).T[None]  # (1, c, n*t)
            z = F.conv1d(seq, a.dwconv.weight, a.dwconv.bias, padding=1, groups=seq.shape[1])
            z = F.conv1d(z, a.conv.weight, a.conv.bias)[0].T                       # (n*t, c)
            for k in range(n):
                out[b * n + k].view(t, h * w, -1)[:, pos] += z[k * t:(k + 1) * t]
    return x + a.gamma * (out @ a.up_proj.weight.T + a.up_proj.bias)


def test_fresh_adapters_leave_the_encoder_output_exactly_unchanged():
    vit, adapted = pair()
    x = torch.randn(4, 3, 4, 32, 32)
    vit.eval(), adapted.eval()
    assert torch.equal(adapted.forward_features(x, num_chunks=2), vit.forward_features(x))
    assert torch.equal(adapted.forward_features(x, num_chunks=1), vit.forward_features(x))


def test_adapter_convolves_over_the_whole_window_of_chunks():
    torch.manual_seed(0)
    a = TemporalAdapter(32)
    randomise(a)
    grid, n = (2, 2, 2), 3
    x = torch.randn(2 * n, 8, 32)
    assert_close(a(x, grid, n), reference_adapter(a, x, grid, n), atol=1e-5, rtol=1e-5)
    # chunks of one window see each other (the last token of chunk 0 reaches chunk 1); windows do not
    y = a(x, grid, n)
    x3 = x.clone()
    x3[0, 4:] += 1.0  # last temporal token of chunk 0 -> changes chunk 1 of the same window
    y3 = a(x3, grid, n)
    assert not torch.allclose(y3[1], y[1]) and torch.equal(y3[n:], y[n:])
    # as separate clips (num_chunks=1) chunk 1 ignores chunk 0
    assert torch.equal(a(x3, grid, 1)[1], a(x, grid, 1)[1])


def test_only_adapters_get_gradients_and_checkpointing_keeps_them():
    _, adapted = pair(adapter_indices=[0, 2])
    for a in adapted.adapters.values():
        randomise(a)
    assert sorted(adapted.adapters) == ['0', '2']
    assert {n.split('.')[0] for n, p in adapted.named_parameters() if p.requires_grad} == {'adapters'}
    x = torch.randn(4, 3, 4, 32, 32)
    grads = []
    for cp in (False, True):
        adapted.zero_grad(set_to_none=True)
        adapted.train().set_grad_checkpointing(cp)
        adapted.forward_features(x, num_chunks=2).square().mean().backward()
        for n, p in adapted.named_parameters():
            assert (p.grad is not None) == n.startswith('adapters.'), n
        grads.append({n: p.grad.clone() for n, p in adapted.named_parameters() if p.grad is not None})
    for k in grads[0]:
        assert_close(grads[1][k], grads[0][k])
    assert any(g.abs().sum() > 0 for g in grads[0].values())


def test_train_last_blocks_and_bad_settings():
    _, adapted = pair(train_last_blocks=1)
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert any(n.startswith('blocks.2.') for n in trainable) and not any(n.startswith('blocks.1.') for n in trainable)
    assert 'fc_norm.weight' in trainable and 'patch_embed.proj.weight' not in trainable
    adapted.train()  # train() keeps the freezing
    assert {n for n, p in adapted.named_parameters() if p.requires_grad} == trainable
    with pytest.raises(ValueError, match='adapter_indices'):
        AdapterVideoViT(**TINY, adapter_indices=[3])
    with pytest.raises(ValueError, match='masked encoding'):
        adapted.forward_features(torch.randn(2, 3, 4, 32, 32), visible_idx=torch.zeros(2, 1, dtype=torch.long))


def test_official_checkpoint_loads_with_only_the_adapters_missing(tmp_path):
    vit, _ = pair(seed=3)
    path = save(official_finetune(vit, 'module'), tmp_path / 'vit_ft.pth')
    adapted = AdapterVideoViT(**TINY)
    report = load_pretrained(adapted, str(path), target='backbone', strict_encoder=True)
    assert report.missing and all(k.startswith('adapters.') for k in report.missing)
    x = torch.randn(2, 3, 4, 32, 32)
    assert torch.equal(adapted.eval().forward_features(x), vit.eval().forward_features(x))
    assert not any(k.startswith('adapters') for k in vit.state_dict())  # official keys unchanged
