"""VideoViT against the official VideoMAE V2 / UMT facts: sizes, attention, position tables, token paths,
checkpointing, freezing, the optimiser interface and input errors."""
import backbones  # noqa: F401  (first: applies the stack fixes, creates the registries)

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backbones import VideoViT
from backbones import video_vit as video_vit_module
from backbones.layers import Attention
from backbones.layers.pos_embed import resample_pos_table, sincos_table
from backbones.presets import PRESETS

# img 32 / patch 16 / tubelet 2: grid (T/2, 2, 2)
TINY = dict(img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2)


def tiny(**kwargs):
    return VideoViT(**{**TINY, **kwargs})


def params_with_k400_head(model):
    """VideoViT parameters + Linear(C, 400), how the official papers count."""
    return sum(p.numel() for p in model.parameters()) + model.embed_dim * 400 + 400


# ------------------------------------------------------------------------------------------- sizes
@pytest.mark.parametrize('arch,millions', [('small', 22.03), ('base', 86.53)])
def test_param_count_small_models(arch, millions):
    assert round(params_with_k400_head(VideoViT(arch)) / 1e6, 2) == millions


def test_builds_on_meta_device():
    """Large models must build without allocating (FSDP-style init, fast tests)."""
    with torch.device('meta'):
        model = VideoViT('base')
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize('arch,millions', [('large', 304.3), ('huge', 632.1)])
def test_param_count_large_models(arch, millions):
    with torch.device('meta'):
        model = VideoViT(arch)
    assert round(params_with_k400_head(model) / 1e6, 1) == millions


def test_param_count_giant():
    with torch.device('meta'):
        model = VideoViT('giant')
    assert round(params_with_k400_head(model) / 1e9, 3) == 1.012
    assert model.patch_size == 14 and model.default_grid == (8, 16, 16)  # 2048 tokens at 16x224
    assert model.blocks[0].mlp.fc1.out_features == 6144


@pytest.mark.parametrize('arch,dim', [('umt-base', 768), ('umt-large', 1024)])
def test_umt_presets(arch, dim):
    with torch.device('meta'):
        model = VideoViT(arch, out_type='tokens')
        tokens = model(torch.empty(1, 3, 8, 224, 224))
    assert model.tubelet_size == 1 and model.default_grid == (8, 14, 14)
    assert tuple(model.patch_embed.proj.weight.shape) == (dim, 3, 1, 16, 16)
    assert tuple(tokens.shape) == (1, 1568, dim)
    assert len(model.blocks) == PRESETS[arch]['depth']


def test_explicit_arguments_override_the_preset():
    """An explicitly passed size wins over the preset even when it equals the signature default."""
    model = VideoViT('umt-base', num_frames=16, depth=1)
    assert model.default_grid == (16, 14, 14)
    model = VideoViT('giant', patch_size=16, depth=1)
    assert model.patch_size == 16


# --------------------------------------------------------------------------------------- attention
def reference_attention(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """Explicit softmax(q k^T / sqrt(d)) v with q/v bias and no k bias; official cosine variant."""
    b, n, _ = x.shape
    h, d = attn.num_heads, attn.head_dim
    wq, wk, wv = attn.qkv.weight.chunk(3, dim=0)
    q = x @ wq.T + attn.q_bias
    k = x @ wk.T
    v = x @ wv.T + attn.v_bias
    q, k, v = (t.reshape(b, n, h, d).transpose(1, 2) for t in (q, k, v))
    if attn.cos_attn:
        logit_scale = torch.clamp(attn.scale, max=4.6052).exp()  # official literal for log(1 / 0.01)
        logits = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) * logit_scale
    else:
        logits = q @ k.transpose(-2, -1) / math.sqrt(d)
    out = logits.softmax(-1) @ v
    return out.transpose(1, 2).reshape(b, n, h * d) @ attn.proj.weight.T + attn.proj.bias


@pytest.mark.parametrize('cos_attn', [False, True])
@pytest.mark.parametrize('head_dim', [None, 16])
def test_sdpa_attention_matches_explicit_softmax(cos_attn, head_dim):
    torch.manual_seed(0)
    attn = Attention(48, num_heads=4, qkv_bias=True, head_dim=head_dim, cos_attn=cos_attn).eval()
    assert attn.qkv.bias is None  # K has no bias
    expected = {'qkv.weight', 'q_bias', 'v_bias', 'proj.weight', 'proj.bias'}
    expected |= {'scale'} if cos_attn else set()
    assert {name for name, _ in attn.named_parameters()} == expected
    with torch.no_grad():
        attn.q_bias.normal_()
        attn.v_bias.normal_()
        if cos_attn:  # two heads above the clamp, two below
            attn.scale.copy_(torch.tensor([1.0, 3.0, 5.0, 7.0]).view(4, 1, 1))
    x = torch.randn(2, 50, 48)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), reference_attention(attn, x), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------ position table
def official_sinusoid(n_position: int, d: int) -> np.ndarray:
    """The official numpy table: row pos, column j = pos / 10000^(2 (j // 2) / d); sin even, cos odd."""
    denominators = np.array([np.power(10000, 2 * (j // 2) / d) for j in range(d)])
    table = np.arange(n_position, dtype=np.float64)[:, None] / denominators[None]
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return table


def test_position_table_is_the_official_sinusoid():
    model = VideoViT(embed_dim=768, depth=1, num_heads=12).eval()  # base width, 16x224 default
    assert model.default_grid == (8, 14, 14)
    table = model.pos_table(model.default_grid, torch.float32, torch.device('cpu'))
    assert tuple(table.shape) == (1, 1568, 768)
    np.testing.assert_allclose(table[0].numpy(), official_sinusoid(1568, 768), atol=1e-6, rtol=0)
    assert 'pos_embed' not in model.state_dict()  # fixed table, not saved (official)
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():  # and it is what embed() adds
        torch.testing.assert_close(model.embed(x) - model.patch_embed(x), table.expand(1, -1, -1),
                                   atol=1e-5, rtol=0)


def test_table_for_16_frames_is_a_prefix_of_the_32_frame_table():
    model = tiny(num_frames=16)
    cpu = torch.device('cpu')
    t16 = model.pos_table((8, 2, 2), torch.float32, cpu)
    t32 = model.pos_table((16, 2, 2), torch.float32, cpu)
    assert t16.shape == (1, 32, 32) and t32.shape == (1, 64, 32)
    torch.testing.assert_close(t16, t32[:, :32], atol=0, rtol=0)


def test_pos_ref_grid_resamples_the_pretraining_table():
    cpu, ref = torch.device('cpu'), (8, 2, 2)
    plain, umt = tiny(num_frames=16), tiny(num_frames=16, pos_ref_grid=ref)
    # at the reference grid: exactly the plain 1-D table
    torch.testing.assert_close(umt.pos_table(ref, torch.float32, cpu),
                               plain.pos_table(ref, torch.float32, cpu), atol=0, rtol=0)
    # elsewhere: the reference table resampled, not the 1-D table of the new length
    ref_table = sincos_table(32, 32).reshape(8, 4, 32)
    t16 = umt.pos_table((16, 2, 2), torch.float32, cpu)[0].reshape(16, 4, 32)
    assert not torch.allclose(t16.reshape(64, 32), plain.pos_table((16, 2, 2), torch.float32, cpu)[0])
    # linear in time, align_corners=False: output frame 0 = frame 0, frame 1 = .75 f0 + .25 f1
    torch.testing.assert_close(t16[0], ref_table[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(t16[1], .75 * ref_table[0] + .25 * ref_table[1], atol=1e-6, rtol=0)
    assert umt.pos_table((4, 4, 4), torch.float32, cpu).shape == (1, 64, 32)
    # resampling to the same grid is the identity, exactly
    table = torch.randn(32, 32)
    assert torch.equal(resample_pos_table(table, ref, ref), table)
    # and the model runs at other clip lengths with it
    with torch.no_grad():
        assert umt.eval()(torch.randn(1, 3, 32, 32, 32)).shape == (1, 32)


# ---------------------------------------------------------------------------------------- forward
@pytest.mark.parametrize('frames', [8, 16, 32])
def test_forward_out_types(frames):
    torch.manual_seed(0)
    x = torch.randn(2, 3, frames, 32, 32)
    t = frames // 2
    outs = {}
    for out_type in ('pooled', 'featmap', 'tokens', 'intermediates'):
        torch.manual_seed(1)
        model = tiny(num_frames=16, out_type=out_type, out_indices=(0, -1)).eval()
        with torch.no_grad():
            outs[out_type] = model(x)
    assert outs['pooled'].shape == (2, 32)
    assert outs['featmap'].shape == (2, 32, t, 2, 2)
    assert outs['tokens'].shape == (2, t * 4, 32)
    assert isinstance(outs['intermediates'], list) and len(outs['intermediates']) == 2
    assert all(o.shape == (2, t * 4, 32) for o in outs['intermediates'])
    tokens = outs['tokens']
    torch.testing.assert_close(outs['pooled'], model.fc_norm(tokens.mean(1)))
    torch.testing.assert_close(outs['featmap'], tokens.transpose(1, 2).reshape(2, 32, t, 2, 2))
    torch.testing.assert_close(outs['intermediates'][-1], tokens)  # mean pooling: no final norm on tokens


def manual_visible_forward(model, x, visible_idx):
    grid = model.patch_embed.grid(*x.shape[2:])
    tokens = model.patch_embed(x) + model.pos_table(grid, x.dtype, x.device)
    tokens = tokens[torch.arange(x.shape[0])[:, None], visible_idx]
    for blk in model.blocks:
        tokens = blk(tokens)
    return model.norm(tokens)


def test_visible_idx_encodes_only_the_gathered_tokens():
    torch.manual_seed(0)
    model = tiny(num_frames=16, out_type='tokens').eval()
    x = torch.randn(2, 3, 16, 32, 32)  # 32 tokens
    visible_idx = torch.stack([torch.randperm(32)[:8] for _ in range(2)])
    with torch.no_grad():
        out = model(x, visible_idx=visible_idx)
        assert out.shape == (2, 8, 32)
        # fp32 GEMMs round differently with the batch layout: compare at fp32 accuracy, not bitwise
        torch.testing.assert_close(out, manual_visible_forward(model, x, visible_idx), atol=1e-5, rtol=1e-5)
        model.out_type = 'featmap'
        with pytest.raises(ValueError, match='featmap'):
            model(x, visible_idx=visible_idx)


def test_bool_mask_equals_sorted_visible_idx():
    torch.manual_seed(0)
    model = tiny(num_frames=16, out_type='tokens').eval()
    x = torch.randn(2, 3, 16, 32, 32)
    visible_idx = torch.stack([torch.randperm(32)[:8].sort().values for _ in range(2)])
    mask = torch.ones(2, 32, dtype=torch.bool).scatter(1, visible_idx, False)  # True = masked
    with torch.no_grad():
        expected = model(x, visible_idx=visible_idx)
        torch.testing.assert_close(model(x, mask=mask, num_visible=8), expected, atol=0, rtol=0)
        torch.testing.assert_close(model(x, mask=mask), expected, atol=0, rtol=0)


def test_visible_idx_needs_no_host_sync():
    """On the meta device any .item() / data-dependent shape would raise."""
    model = tiny(num_frames=16, out_type='tokens').to('meta')
    x = torch.empty(2, 3, 16, 32, 32, device='meta')
    visible_idx = torch.empty(2, 8, dtype=torch.long, device='meta')
    assert model(x, visible_idx=visible_idx).shape == (2, 8, 32)
    mask = torch.empty(2, 32, dtype=torch.bool, device='meta')
    assert model(x, mask=mask, num_visible=8).shape == (2, 8, 32)  # with num_visible: no sync either


# ------------------------------------------------------------------------------ checkpoint & freeze
@pytest.mark.parametrize('cp_interval,calls', [(1, 4), (2, 2)])
def test_activation_checkpointing_is_exact(cp_interval, calls, monkeypatch):
    torch.manual_seed(0)
    ref = tiny(num_frames=16, depth=4, out_type='tokens').train()
    ckpt = tiny(num_frames=16, depth=4, out_type='tokens', with_cp=True, cp_interval=cp_interval).train()
    ckpt.load_state_dict(ref.state_dict())
    counted = []
    real_checkpoint = video_vit_module.checkpoint

    def counting_checkpoint(*args, **kwargs):
        counted.append(1)
        return real_checkpoint(*args, **kwargs)

    monkeypatch.setattr(video_vit_module, 'checkpoint', counting_checkpoint)
    x = torch.randn(2, 3, 16, 32, 32)
    weight = torch.randn(2, 32, 32)
    outs, grads = [], []
    for model in (ref, ckpt):
        out = model(x)
        (out * weight).sum().backward()
        outs.append(out.detach())
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert len(counted) == calls
    torch.testing.assert_close(outs[1], outs[0], atol=1e-6, rtol=0)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=0, msg=name)


@pytest.mark.parametrize('k', [0, 2])
def test_frozen_stages(k):
    model = tiny(num_frames=16, depth=3, frozen_stages=k, pos_embed='learnable', drop_rate=0.1)
    model.train()
    frozen = [model.patch_embed, *model.blocks[:k]]
    trainable = [*model.blocks[k:], model.fc_norm]
    for module in frozen:
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    for module in trainable:
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules())
    assert not model.pos_embed.requires_grad


# ---------------------------------------------------------------------------- optimiser interface
@pytest.mark.parametrize('pos_embed', ['sincos', 'learnable'])
def test_layer_ids_and_no_weight_decay(pos_embed):
    depth = 3
    model = tiny(num_frames=16, depth=depth, pos_embed=pos_embed)
    ids = model.layer_ids()
    assert set(ids) == {name for name, _ in model.named_parameters()}
    assert model.num_layers == depth
    for name, layer in ids.items():
        if name.startswith('patch_embed.') or name == 'pos_embed':
            assert layer == 0, name
        elif name.startswith('blocks.'):
            assert layer == int(name.split('.')[1]) + 1, name
        else:
            assert name.startswith('fc_norm.') and layer == depth + 1, name
    if pos_embed == 'learnable':
        assert 'pos_embed' in model.no_weight_decay()
        assert 'pos_embed' in model.state_dict()
    else:
        assert 'pos_embed' not in model.no_weight_decay()


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize('shape,sizes', [((1, 3, 15, 32, 32), '15x32x32'), ((1, 3, 16, 30, 32), '16x30x32')])
def test_clip_not_divisible_raises_value_error(shape, sizes):
    model = tiny(num_frames=16)
    with pytest.raises(ValueError) as err:
        model(torch.randn(*shape))
    assert sizes in str(err.value) and '2x16x16' in str(err.value)


def test_unknown_arch_lists_valid_names():
    with pytest.raises(KeyError) as err:
        VideoViT('gigantic')
    message = str(err.value)
    assert 'gigantic' in message and all(name in message for name in PRESETS)


def test_unknown_keyword_raises_type_error():
    with pytest.raises(TypeError, match='embed_dims'):
        VideoViT(**TINY, embed_dims=64)  # mmaction2 spelling


@pytest.mark.parametrize('out_indices', [(2,), (-3,)])
def test_out_of_range_out_indices_raise(out_indices):
    """depth 2: index 2 or -3 names no block; it must not wrap around silently."""
    with pytest.raises(ValueError, match='out_indices'):
        tiny(num_frames=16, out_type='intermediates', out_indices=out_indices)


def test_intermediates_keep_requested_order_and_duplicates():
    from backbones.video_vit import VideoViT as ViT
    torch.manual_seed(0)
    vit = ViT(img_size=32, num_frames=4, patch_size=16, embed_dim=32, depth=3, num_heads=2,
              out_type='intermediates', out_indices=(2, 0, -1)).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        outs = vit(x)
        tokens = vit.embed(x)
        per_block = []
        for blk in vit.blocks:
            tokens = blk(tokens)
            per_block.append(tokens)
    assert len(outs) == 3
    torch.testing.assert_close(outs[0], per_block[2])
    torch.testing.assert_close(outs[1], per_block[0])
    torch.testing.assert_close(outs[2], per_block[2])


def test_bool_mask_goes_through_mask_to_index():
    from backbones.masking import mask_to_index
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, [1, 3, 5]] = True
    mask[1, [0, 2, 7]] = True
    idx = mask_to_index(mask, 5)
    assert idx.tolist() == [[0, 2, 4, 6, 7], [1, 3, 4, 5, 6]]
    vit = VideoViT(img_size=32, num_frames=4, patch_size=16, embed_dim=32, depth=1, num_heads=2,
                   out_type='tokens').eval()
    x = torch.randn(2, 3, 4, 32, 32)
    torch.testing.assert_close(vit(x, mask=mask, num_visible=5), vit(x, visible_idx=idx))
    with pytest.raises(ValueError, match='bool'):
        vit(x, mask=mask.long())
    with pytest.raises(ValueError, match='either'):
        vit(x, mask=mask, visible_idx=idx)


def test_one_clip_per_sample_drops_the_clip_axis_and_refuses_several_clips():
    from backbones.video_vit import one_clip_per_sample
    x = torch.randn(2, 1, 3, 4, 8, 8)
    assert torch.equal(one_clip_per_sample(x), x[:, 0])
    assert one_clip_per_sample(x[:, 0]).shape == (2, 3, 4, 8, 8)  # already one clip per sample
    with pytest.raises(ValueError, match=r'one clip per sample \(num_clips=1\), got 3'):
        one_clip_per_sample(torch.randn(2, 3, 3, 4, 8, 8))


# ------------------------------------------------------------------ timm-shaped API: intermediates
def per_block_outputs(model, x, visible_idx=None):
    tokens = model.embed(x, visible_idx)
    outs = []
    for blk in model.blocks:
        tokens = blk(tokens)
        outs.append(tokens)
    return outs


@pytest.fixture
def deep():
    torch.manual_seed(0)
    return tiny(num_frames=4, depth=4, use_mean_pooling=False).eval()


def test_forward_intermediates_int_takes_the_last_n_blocks(deep):
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        ref = per_block_outputs(deep, x)
        final, inter = deep.forward_intermediates(x, 2)
        assert len(inter) == 2
        torch.testing.assert_close(inter[0], ref[2], atol=0, rtol=0)
        torch.testing.assert_close(inter[1], ref[3], atol=0, rtol=0)
        torch.testing.assert_close(final, deep.forward_features(x), atol=0, rtol=0)
        every = deep.forward_intermediates(x, intermediates_only=True)  # None: every block
        assert len(every) == 4 and all(torch.equal(a, b) for a, b in zip(every, ref))


def test_forward_intermediates_list_keeps_order_duplicates_and_negative_indices(deep):
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        ref = per_block_outputs(deep, x)
        inter = deep.forward_intermediates(x, [3, 0, -1, -4, 1], intermediates_only=True)
    assert [id(t) for t in inter][0] == id(inter[2])  # block 3 asked twice: the same tensor
    for got, want in zip(inter, [ref[3], ref[0], ref[3], ref[0], ref[1]]):
        torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize('indices', [[4], [-5], 0, 5])
def test_forward_intermediates_out_of_range_raises(deep, indices):
    with pytest.raises(ValueError, match='4'):
        deep.forward_intermediates(torch.randn(1, 3, 4, 32, 32), indices)


def test_stop_early_gives_the_same_intermediates_and_runs_fewer_blocks(deep):
    x = torch.randn(1, 3, 4, 32, 32)
    calls = []
    hooks = [blk.register_forward_hook(lambda m, i, o, k=k: calls.append(k)) for k, blk in enumerate(deep.blocks)]
    with torch.no_grad():
        full = deep.forward_intermediates(x, [1, 0], intermediates_only=True)
        assert calls == [0, 1, 2, 3]
        calls.clear()
        early = deep.forward_intermediates(x, [1, 0], stop_early=True, intermediates_only=True)
        assert calls == [0, 1]
    for h in hooks:
        h.remove()
    for a, b in zip(full, early):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_norm_flag_applies_the_final_norm(deep):
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        raw = deep.forward_intermediates(x, [0, 2], intermediates_only=True)
        normed = deep.forward_intermediates(x, [0, 2], norm=True, intermediates_only=True)
        for r, n in zip(raw, normed):
            torch.testing.assert_close(n, deep.norm(r), atol=0, rtol=0)
            assert not torch.allclose(n, r)
        pooled = tiny(num_frames=4, depth=2).eval()  # use_mean_pooling: norm is Identity, as timm's with fc_norm
        a = pooled.forward_intermediates(x, 1, norm=True, intermediates_only=True)[0]
        torch.testing.assert_close(a, pooled.forward_intermediates(x, 1, intermediates_only=True)[0])


def test_ncthw_output_format(deep):
    x = torch.randn(2, 3, 8, 32, 32)  # grid (4, 2, 2)
    with torch.no_grad():
        tokens = deep.forward_intermediates(x, [1, -1], intermediates_only=True)
        maps = deep.forward_intermediates(x, [1, -1], output_fmt='NCTHW', intermediates_only=True)
    for t, m in zip(tokens, maps):
        assert m.shape == (2, 32, 4, 2, 2)
        torch.testing.assert_close(m, t.transpose(1, 2).reshape(2, 32, 4, 2, 2), atol=0, rtol=0)
    with pytest.raises(ValueError, match='NCTHW'):
        deep.forward_intermediates(x, 1, visible_idx=torch.zeros(2, 3, dtype=torch.long), output_fmt='NCTHW')
    with pytest.raises(ValueError, match='output_fmt'):
        deep.forward_intermediates(x, 1, output_fmt='NCHW')


def test_masked_intermediates_and_features_encode_only_the_gathered_tokens(deep):
    x = torch.randn(2, 3, 4, 32, 32)  # 8 tokens
    visible_idx = torch.tensor([[0, 2, 5], [1, 6, 7]])
    with torch.no_grad():
        full = deep.embed(x)
        gathered = torch.stack([full[b, visible_idx[b]] for b in range(2)])
        torch.testing.assert_close(deep.embed(x, visible_idx), gathered, atol=1e-5, rtol=1e-5)  # matmul vs conv
        ref = per_block_outputs(deep, x, visible_idx)
        final, inter = deep.forward_intermediates(x, [-1, 0], visible_idx)
        assert inter[0].shape == (2, 3, 32)
        torch.testing.assert_close(inter[0], ref[-1], atol=0, rtol=0)
        torch.testing.assert_close(inter[1], ref[0], atol=0, rtol=0)
        torch.testing.assert_close(final, deep.forward_features(x, visible_idx), atol=0, rtol=0)
        torch.testing.assert_close(final, deep.norm(ref[-1]), atol=0, rtol=0)


def test_out_type_is_a_thin_switch_over_the_api():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 32, 32)
    model = tiny(num_frames=4, depth=3, out_indices=(2, 0)).eval()
    assert model.out_indices == (2, 0)  # kept as configured
    with torch.no_grad():
        tokens = model.forward_features(x)
        outs = {}
        for out_type in ('pooled', 'featmap', 'tokens', 'intermediates'):
            model.out_type = out_type
            outs[out_type] = model(x)
        torch.testing.assert_close(outs['tokens'], tokens, atol=0, rtol=0)
        torch.testing.assert_close(outs['pooled'], model.forward_head(tokens), atol=0, rtol=0)
        torch.testing.assert_close(model.forward_head(tokens), model.fc_norm(model.pool(tokens)), atol=0, rtol=0)
        torch.testing.assert_close(outs['featmap'], model.to_featmap(tokens, (2, 2, 2)), atol=0, rtol=0)
        want = model.forward_intermediates(x, [2, 0], intermediates_only=True)
        assert len(outs['intermediates']) == 2
        for a, b in zip(outs['intermediates'], want):
            torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_prune_intermediate_layers(deep):
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        want = deep.forward_intermediates(x, [1, 0], intermediates_only=True)
        assert deep.prune_intermediate_layers([1, 0], prune_norm=True) == [1, 0]
        assert len(deep.blocks) == 2 and deep.num_layers == 2 and isinstance(deep.norm, torch.nn.Identity)
        got = deep.forward_intermediates(x, [1, 0], intermediates_only=True)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_set_grad_checkpointing_keeps_outputs_and_gradients(monkeypatch):
    torch.manual_seed(0)
    model = tiny(num_frames=4, depth=3, out_type='tokens').train()
    assert not model.with_cp
    counted = []
    real_checkpoint = video_vit_module.checkpoint
    monkeypatch.setattr(video_vit_module, 'checkpoint', lambda *a, **k: counted.append(1) or real_checkpoint(*a, **k))
    x = torch.randn(2, 3, 4, 32, 32)
    weight = torch.randn(2, 8, 32)
    results = []
    for enable in (False, True):
        model.set_grad_checkpointing(enable)
        assert model.with_cp == enable == model.grad_checkpointing
        model.zero_grad()
        inter = model.forward_intermediates(x, [0, -1], intermediates_only=True)
        ((inter[0] + inter[1]) * weight).sum().backward()
        results.append(([t.detach() for t in inter],
                        {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    assert len(counted) == 3
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert results[0][1].keys() == results[1][1].keys() and 'blocks.0.attn.qkv.weight' in results[0][1]
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, atol=1e-6, rtol=0, msg=name)
    assert tiny(num_frames=4, with_cp=True).grad_checkpointing  # the config argument maps to it


# ------------------------------------------------------------------------- one cached sinusoid table
def test_sinusoid_tables_are_cached_once_and_safe_to_reuse():
    from backbones.layers.pos_embed import video_pos_table
    a = video_pos_table((2, 2, 2), 16)
    assert video_pos_table((2, 2, 2), 16) is a  # built once
    assert sincos_table(8, 16) is sincos_table(8, 16)
    torch.testing.assert_close(a, sincos_table(8, 16), atol=0, rtol=0)
    with torch.inference_mode():  # first built under inference mode ...
        b = video_pos_table((3, 2, 2), 16, ref_grid=(2, 2, 2))
    assert not b.is_inference()  # ... still usable in training
    with torch.device('meta'):  # a meta-device block does not poison the CPU cache
        model = tiny(num_frames=4, pos_embed='learnable')
    assert model.pos_embed.is_meta
    assert not video_pos_table((2, 2, 2), 16).is_meta
    # a learnable table is a copy: training it leaves the cache alone
    learn = tiny(num_frames=4, pos_embed='learnable')
    with torch.no_grad():
        learn.pos_embed.add_(1)
    torch.testing.assert_close(sincos_table(8, 32), torch.from_numpy(official_sinusoid(8, 32)).float())
    # the model and the pretrainers share it: no per-module copies
    model = tiny(num_frames=4)
    assert model.pos_table((2, 2, 2), torch.float32, torch.device('cpu'))[0].data_ptr() == \
        video_pos_table((2, 2, 2), 32).data_ptr()


# ------------------------------------------------------- UMT at other clip lengths (issue 12, item 2)
def official_umt_stretched_table(frames: int, ref=(8, 14, 14), dim: int = 768) -> np.ndarray:
    """The official UMT fine-tuning: the 8x14x14 sinusoid, F.interpolate(mode='linear') over time per spatial
    position (align_corners=False), written out: output frame j samples the source at (j + .5) * T / T2 - .5,
    clamped at 0, between its two neighbours."""
    t, h, w = ref
    table = official_sinusoid(t * h * w, dim).astype(np.float32).reshape(t, h * w, dim)
    out = np.empty((frames, h * w, dim), dtype=np.float64)
    for j in range(frames):
        src = max((j + .5) * t / frames - .5, 0.)
        lo = int(np.floor(src))
        hi = min(lo + 1, t - 1)
        frac = src - lo
        out[j] = (1 - frac) * table[lo] + frac * table[hi]
    return out.reshape(frames * h * w, dim)


@pytest.mark.parametrize('arch,dim', [('umt-base', 768), ('umt-large', 1024)])
def test_umt_presets_stretch_the_8_frame_table_to_16_frames(arch, dim):
    model = VideoViT(arch, num_frames=16, depth=1)
    assert model.pos_ref_grid == (8, 14, 14) and model.default_grid == (16, 14, 14)
    table = model.pos_table((16, 14, 14), torch.float32, torch.device('cpu'))[0]
    np.testing.assert_allclose(table.numpy(), official_umt_stretched_table(16, dim=dim), atol=1e-6, rtol=0)
    # at the pretraining length it is the plain 1-D table, as before
    eight = model.pos_table((8, 14, 14), torch.float32, torch.device('cpu'))[0]
    np.testing.assert_allclose(eight.numpy(), official_sinusoid(1568, dim), atol=1e-6, rtol=0)
    assert VideoViT(arch, depth=1, pos_ref_grid=(4, 14, 14)).pos_ref_grid == (4, 14, 14)  # explicit wins


def test_learnable_umt_table_starts_from_the_stretched_table():
    model = VideoViT('umt-base', num_frames=16, depth=1, pos_embed='learnable')
    assert model.pos_embed.shape == (1, 16 * 196, 768)
    np.testing.assert_allclose(model.pos_embed[0].detach().numpy(), official_umt_stretched_table(16), atol=1e-6,
                               rtol=0)
    fixed = VideoViT('umt-base', num_frames=16, depth=1)
    torch.testing.assert_close(model.pos_table((16, 14, 14), torch.float32, torch.device('cpu')),
                               fixed.pos_table((16, 14, 14), torch.float32, torch.device('cpu')), atol=0, rtol=0)
    vmae = tiny(num_frames=16, pos_embed='learnable')  # no reference grid: the 1-D table, as before
    np.testing.assert_allclose(vmae.pos_embed[0].detach().numpy(), official_sinusoid(32, 32), atol=1e-6, rtol=0)
