"""LayerDecayOptimWrapperConstructor: every parameter's lr and weight decay against a hand computation."""
import backbones  # noqa: F401  (first: applies the stack fixes, creates the registries)

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR
from mmengine.registry import DefaultScope
from torch import nn

import tasks.engine.layer_decay  # noqa: F401  (registers the constructor)
from backbones import VideoViT
from backbones.registry import OPTIM_WRAPPER_CONSTRUCTORS

LR, WD, RATE, DEPTH = 1e-3, 0.05, 0.5, 3
TINY_VIT = dict(img_size=32, num_frames=4, patch_size=16, embed_dim=32, depth=DEPTH, num_heads=2)


class TinyRecognizer(nn.Module):
    """Recognizer-shaped model: ``backbone`` + a head outside it."""

    def __init__(self, **vit_kwargs):
        super().__init__()
        self.backbone = VideoViT(**TINY_VIT, **vit_kwargs)
        self.cls_head = nn.Linear(32, 5)


class FakeDDP(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module


def build(model, rate=RATE, **wrapper):
    cfg = dict(type='LayerDecayOptimWrapperConstructor',
               optim_wrapper_cfg=dict(type='OptimWrapper',
                                      optimizer=dict(type='AdamW', lr=LR, weight_decay=WD), **wrapper),
               paramwise_cfg=dict(layer_decay_rate=rate))
    with DefaultScope.overwrite_default_scope('videofm'):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(cfg)
        return constructor(model)


def settings(optim_wrapper):
    """id(param) -> (lr, weight_decay, lr_scale); fails if a parameter is in two groups."""
    out = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            assert id(p) not in out, 'parameter in two groups'
            out[id(p)] = (group['lr'], group['weight_decay'], group['lr_scale'])
    return out


def expected(name, param):
    """Hand computation of the official recipe for TinyRecognizer's parameter names."""
    if name.startswith('backbone.patch_embed.') or name == 'backbone.pos_embed':
        layer = 0
    elif name.startswith('backbone.blocks.'):
        layer = int(name.split('.')[2]) + 1
    else:  # backbone.fc_norm, cls_head
        layer = DEPTH + 1
    no_decay = param.ndim == 1 or name.endswith('.bias') or name == 'backbone.pos_embed'
    scale = RATE ** (DEPTH + 1 - layer)
    return LR * scale, 0. if no_decay else WD, scale


@pytest.mark.parametrize('pos_embed', ['sincos', 'learnable'])
def test_every_parameter_gets_the_official_lr_and_weight_decay(pos_embed):
    model = TinyRecognizer(pos_embed=pos_embed)
    optim_wrapper = build(model)
    assert isinstance(optim_wrapper, OptimWrapper)
    assert isinstance(optim_wrapper.optimizer, torch.optim.AdamW)
    got = settings(optim_wrapper)
    named = dict(model.named_parameters())
    assert set(got) == {id(p) for p in named.values()}
    for name, p in named.items():
        assert got[id(p)] == pytest.approx(expected(name, p), rel=1e-12), name

    # spot checks spelled out
    def lr_wd(name):
        return got[id(named[name])][:2]
    assert lr_wd('backbone.patch_embed.proj.weight') == pytest.approx((LR * 0.5 ** 4, WD))
    assert lr_wd('backbone.patch_embed.proj.bias') == pytest.approx((LR * 0.5 ** 4, 0.))
    assert lr_wd('backbone.blocks.0.attn.qkv.weight') == pytest.approx((LR * 0.5 ** 3, WD))
    assert lr_wd('backbone.blocks.0.attn.q_bias') == pytest.approx((LR * 0.5 ** 3, 0.))
    assert lr_wd('backbone.blocks.0.mlp.fc1.bias') == pytest.approx((LR * 0.5 ** 3, 0.))
    assert lr_wd('backbone.blocks.0.norm1.weight') == pytest.approx((LR * 0.5 ** 3, 0.))
    assert lr_wd('backbone.blocks.2.mlp.fc2.weight') == pytest.approx((LR * 0.5, WD))
    assert lr_wd('backbone.fc_norm.weight') == pytest.approx((LR, 0.))
    assert lr_wd('cls_head.weight') == pytest.approx((LR, WD))
    assert lr_wd('cls_head.bias') == pytest.approx((LR, 0.))
    if pos_embed == 'learnable':  # 3-D, but named by no_weight_decay()
        assert lr_wd('backbone.pos_embed') == pytest.approx((LR * 0.5 ** 4, 0.))

    groups = optim_wrapper.optimizer.param_groups
    # one group per (layer, decay / no decay): layers 0..L+1 each have both kinds
    assert sorted((g['layer_id'], g['weight_decay'] > 0) for g in groups) == \
        sorted((i, d) for i in range(DEPTH + 2) for d in (True, False))
    assert groups[0]['lr_scale'] == 1  # the group MMEngine logs as `lr` follows the base schedule


def test_frozen_parameters_are_left_out():
    model = TinyRecognizer(frozen_stages=1)
    model.cls_head.bias.requires_grad_(False)
    got = settings(build(model))
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert set(got) == trainable
    for name in ('backbone.patch_embed.proj.weight', 'backbone.blocks.0.attn.qkv.weight', 'cls_head.bias'):
        assert id(dict(model.named_parameters())[name]) not in got
    assert id(model.backbone.blocks[1].attn.qkv.weight) in got


def test_ddp_wrapper_and_bare_backbone():
    model = TinyRecognizer()
    via_ddp = settings(build(FakeDDP(model)))
    direct = settings(build(model))
    assert via_ddp == direct
    bare = VideoViT(**TINY_VIT)
    got = settings(build(bare))
    assert got[id(bare.patch_embed.proj.weight)][0] == pytest.approx(LR * RATE ** (DEPTH + 1))
    assert got[id(bare.fc_norm.weight)][:2] == pytest.approx((LR, 0.))


def test_backbone_without_layer_ids_fails_clearly():
    model = nn.Module()
    model.backbone = nn.Linear(4, 4)
    with pytest.raises(TypeError, match='driven by backbone methods, not parameter names'):
        build(model)


@pytest.mark.parametrize('paramwise_cfg', [
    None, dict(), dict(layer_decay_rate=0.), dict(layer_decay_rate=1.5),
    dict(layer_decay_rate=.75, decay_mult=2)])
def test_bad_paramwise_cfg_fails(paramwise_cfg):
    with pytest.raises((KeyError, ValueError)):
        OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='LayerDecayOptimWrapperConstructor', paramwise_cfg=paramwise_cfg,
            optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=LR, weight_decay=WD))))


def test_missing_weight_decay_fails():
    with pytest.raises(KeyError, match='weight_decay'), DefaultScope.overwrite_default_scope('videofm'):
        OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='LayerDecayOptimWrapperConstructor', paramwise_cfg=dict(layer_decay_rate=.75),
            optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=LR))))


def test_schedulers_keep_the_per_layer_ratios():
    optim_wrapper = build(TinyRecognizer())
    warmup = LinearLR(optim_wrapper, start_factor=0.1, by_epoch=False, begin=0, end=2)
    cosine = CosineAnnealingLR(optim_wrapper, T_max=4, by_epoch=False, begin=2, end=6)
    for _ in range(5):
        for group in optim_wrapper.optimizer.param_groups:
            top = optim_wrapper.optimizer.param_groups[0]['lr']
            assert group['lr'] == pytest.approx(top * group['lr_scale'], rel=1e-9)
        optim_wrapper.step()  # no gradients: a no-op that keeps the scheduler order check quiet
        warmup.step()
        cosine.step()
    assert optim_wrapper.optimizer.param_groups[0]['lr'] < LR  # the schedule did run


def test_runner_style_config_builds_through_mmengine():
    """What the Runner does with ``optim_wrapper=dict(..., constructor=..., paramwise_cfg=...)``."""
    from mmengine.optim import build_optim_wrapper
    model = TinyRecognizer()
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=LR, weight_decay=WD),
               constructor='LayerDecayOptimWrapperConstructor', paramwise_cfg=dict(layer_decay_rate=RATE))
    with DefaultScope.overwrite_default_scope('videofm'):
        optim_wrapper = build_optim_wrapper(model, cfg)
    assert settings(optim_wrapper) == settings(build(model))
