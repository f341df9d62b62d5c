"""backbones/checkpoint.py and pretrained.py: every official checkpoint format, built from a tiny random VideoViT.

Each fixture checkpoint is written out under the OFFICIAL key names by explicit templates in this file (not by
inverting the converter), saved like the official code saves it (``args`` Namespace, optimizer, ...), loaded
through ``load_pretrained`` into a VideoViT with another seed, and must reproduce the source model's output.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from mmengine.model import BaseModule
from safetensors.torch import save_file
from torch import nn
from torch.testing import assert_close

import backbones  # noqa: F401  (fixes `import mmaction.models`)
from backbones import VideoViT
from backbones.checkpoint import (LoadReport, UnsafeCheckpointError, convert_state_dict, load_checkpoint_file,
                                  remap_head, resample_pos_embed)
from backbones.pretrained import has_pretrained_cfg, init_from_pretrained, load_pretrained

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(img_size=32, patch_size=16, num_frames=4, tubelet_size=2, embed_dim=32, depth=2, num_heads=2)
NUM_CLASSES = 5


# ------------------------------------------------------------------------------------------- helpers
def make_vit(seed: int, **kwargs) -> VideoViT:
    """A tiny VideoViT whose every parameter (also LayerNorms and q/v biases) depends on ``seed``."""
    torch.manual_seed(seed)
    vit = VideoViT(**{**TINY, **kwargs})
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return vit.eval()


def clip_for(vit: VideoViT, frames: int = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, frames or vit.default_grid[0] * vit.tubelet_size, 32, 32, generator=g)


@torch.no_grad()
def outputs(vit: VideoViT, x: torch.Tensor):
    tokens = vit.eval().forward_features(x)
    return tokens, vit.forward_head(tokens)


def assert_same_outputs(src: VideoViT, dst: VideoViT):
    x = clip_for(src)
    for got, want in zip(outputs(dst, x), outputs(src, x)):
        assert_close(got, want)


def official_encoder(vit: VideoViT, prefix: str = '') -> dict:
    """VideoViT weights under the official VideoMAE V2 / UMT names, spelled out per attribute."""
    t = {'patch_embed.proj.weight': vit.patch_embed.proj.weight,
         'patch_embed.proj.bias': vit.patch_embed.proj.bias}
    for i, blk in enumerate(vit.blocks):
        t.update({
            f'blocks.{i}.norm1.weight': blk.norm1.weight, f'blocks.{i}.norm1.bias': blk.norm1.bias,
            f'blocks.{i}.attn.qkv.weight': blk.attn.qkv.weight,
            f'blocks.{i}.attn.q_bias': blk.attn.q_bias, f'blocks.{i}.attn.v_bias': blk.attn.v_bias,
            f'blocks.{i}.attn.proj.weight': blk.attn.proj.weight,
            f'blocks.{i}.attn.proj.bias': blk.attn.proj.bias,
            f'blocks.{i}.norm2.weight': blk.norm2.weight, f'blocks.{i}.norm2.bias': blk.norm2.bias,
            f'blocks.{i}.mlp.fc1.weight': blk.mlp.fc1.weight, f'blocks.{i}.mlp.fc1.bias': blk.mlp.fc1.bias,
            f'blocks.{i}.mlp.fc2.weight': blk.mlp.fc2.weight, f'blocks.{i}.mlp.fc2.bias': blk.mlp.fc2.bias,
        })
        if blk.gamma_1 is not None:
            t.update({f'blocks.{i}.gamma_1': blk.gamma_1, f'blocks.{i}.gamma_2': blk.gamma_2})
    if vit.use_mean_pooling:
        t.update({'fc_norm.weight': vit.fc_norm.weight, 'fc_norm.bias': vit.fc_norm.bias})
    else:
        t.update({'norm.weight': vit.norm.weight, 'norm.bias': vit.norm.bias})
    if vit.pos_embed is not None:
        t['pos_embed'] = vit.pos_embed
    assert len(t) == len(vit.state_dict()), 'the export template must cover every VideoViT tensor'
    return {prefix + k: v.detach().clone() for k, v in t.items()}


def official_args(vit: VideoViT) -> argparse.Namespace:
    return argparse.Namespace(model='vit_tiny', num_frames=vit.default_grid[0] * vit.tubelet_size,
                              tubelet_size=vit.tubelet_size, input_size=32, lr=1e-3, layer_decay=0.75)


def head(vit: VideoViT, num_classes: int = NUM_CLASSES, seed: int = 7) -> tuple:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(num_classes, vit.embed_dim, generator=g), torch.randn(num_classes, generator=g)


def optimizer_state() -> dict:
    return {'state': {0: {'step': torch.tensor(3.), 'exp_avg': torch.zeros(4)}},
            'param_groups': [{'lr': 1e-3}]}


# --------------------------------------------------------------------------- official-format builders
def videomaev2_pretrain(vit, compiled=False):
    c, cd = vit.embed_dim, 16
    model = official_encoder(vit, 'encoder.')
    model.update({
        'encoder_to_decoder.weight': torch.randn(cd, c), 'mask_token': torch.zeros(1, 1, cd),
        'decoder.blocks.0.norm1.weight': torch.ones(cd),
        'decoder.blocks.0.attn.qkv.weight': torch.randn(3 * cd, cd),
        'decoder.blocks.0.attn.q_bias': torch.zeros(cd),
        'decoder.blocks.0.mlp.fc1.weight': torch.randn(4 * cd, cd),
        'decoder.norm.weight': torch.ones(cd), 'decoder.norm.bias': torch.zeros(cd),
        'decoder.head.weight': torch.randn(3 * vit.tubelet_size * 16 * 16, cd),
        'decoder.head.bias': torch.zeros(3 * vit.tubelet_size * 16 * 16),
    })
    if compiled:
        model = {'_orig_mod.' + k: v for k, v in model.items()}
    return {'model': model, 'optimizer': optimizer_state(), 'epoch': 199, 'scaler': {'scale': 65536.0},
            'args': official_args(vit)}


def official_finetune(vit, container='model'):
    w, b = head(vit)
    model = {**official_encoder(vit), 'head.weight': w, 'head.bias': b}
    ckpt = {container: model, 'optimizer': optimizer_state(), 'epoch': 89, 'args': official_args(vit)}
    if container == 'model':
        ckpt['model_ema'] = {k: v + 1 for k, v in model.items()}  # must be ignored
    return ckpt


def umt_stage1(vit):
    c, clip = vit.embed_dim, 24
    model = official_encoder(vit, 'encoder.')
    for i in range(2):
        model.update({f'clip_decoder.{i}.head.weight': torch.randn(clip, c),
                      f'clip_decoder.{i}.head.bias': torch.zeros(clip),
                      f'clip_decoder.{i}.norm.weight': torch.ones(clip),
                      f'clip_decoder.{i}.norm.bias': torch.zeros(clip)})
    return {'model': model, 'optimizer': optimizer_state(), 'epoch': 199, 'scaler': {},
            'args': official_args(vit)}


def umt_stage2(vit):
    c, clip, text = vit.embed_dim, 24, 40
    model = official_encoder(vit, 'vision_encoder.encoder.')
    model.update({
        'vision_encoder.clip_decoder.0.head.weight': torch.randn(clip, c),
        'vision_encoder.clip_decoder.0.norm.weight': torch.ones(clip),
        'vision_encoder.pool_norm.weight': torch.ones(c), 'vision_encoder.pool_norm.bias': torch.zeros(c),
        'clip_teacher.conv1.weight': torch.randn(clip, 3, 1, 16, 16),
        'clip_teacher.class_embedding': torch.randn(clip),
        'clip_teacher.transformer.resblocks.0.attn.in_proj_weight': torch.randn(3 * clip, clip),
        'clip_teacher.ln_post.weight': torch.ones(clip), 'clip_teacher.proj': torch.randn(clip, 16),
        'text_encoder.bert.embeddings.word_embeddings.weight': torch.randn(50, text),
        'text_encoder.bert.encoder.layer.0.attention.self.query.weight': torch.randn(text, text),
        'text_encoder.cls.predictions.bias': torch.zeros(50),
        'vision_proj.weight': torch.randn(16, c), 'vision_proj.bias': torch.zeros(16),
        'text_proj.weight': torch.randn(16, text), 'text_proj.bias': torch.zeros(16),
        'temp': torch.tensor(0.07), 'itm_head.weight': torch.randn(2, text), 'itm_head.bias': torch.zeros(2),
    })
    # the official 'config' is an EasyDict-like object; a plain dict here (see load_checkpoint_file)
    return {'model': model, 'optimizer': optimizer_state(), 'scheduler': {'last_epoch': 3}, 'scaler': {},
            'config': {'model': {'vision_encoder': {'name': 'vit_b16'}}}, 'epoch': 9, 'global_step': 1000}


def mmaction2_vit(vit: VideoViT):
    """A REAL mmaction2 ``VisionTransformer`` carrying ``vit``'s weights, copied by an explicit mapping."""
    from mmaction.models.backbones.vit_mae import VisionTransformer
    learnable = vit.pos_embed is not None
    mm = VisionTransformer(img_size=32, patch_size=16, embed_dims=vit.embed_dim, depth=vit.depth, num_heads=2,
                           num_frames=vit.default_grid[0] * vit.tubelet_size, tubelet_size=vit.tubelet_size,
                           use_mean_pooling=True, use_learnable_pos_emb=learnable).eval()
    with torch.no_grad():
        mm.patch_embed.projection.weight.copy_(vit.patch_embed.proj.weight)
        mm.patch_embed.projection.bias.copy_(vit.patch_embed.proj.bias)
        if learnable:
            mm.pos_embed.copy_(vit.pos_embed)
        for b_mm, b in zip(mm.blocks, vit.blocks):
            b_mm.norm1.load_state_dict(b.norm1.state_dict())
            b_mm.norm2.load_state_dict(b.norm2.state_dict())
            b_mm.attn.qkv.weight.copy_(b.attn.qkv.weight)
            b_mm.attn.q_bias.copy_(b.attn.q_bias)
            b_mm.attn.v_bias.copy_(b.attn.v_bias)
            b_mm.attn.proj.load_state_dict(b.attn.proj.state_dict())
            b_mm.mlp.layers[0][0].load_state_dict(b.mlp.fc1.state_dict())
            b_mm.mlp.layers[1].load_state_dict(b.mlp.fc2.state_dict())
        mm.fc_norm.load_state_dict(vit.fc_norm.state_dict())
    return mm


def mmaction2_recognizer(vit):
    w, b = head(vit)
    sd = {'backbone.' + k: v.clone() for k, v in mmaction2_vit(vit).state_dict().items()}
    sd.update({'cls_head.fc_cls.weight': w, 'cls_head.fc_cls.bias': b})
    return {'meta': {'mmaction_version': '1.2.0', 'epoch': 35}, 'state_dict': sd}


def videofm_recognizer(vit):
    w, b = head(vit)
    sd = {'backbone.' + k: v.clone() for k, v in vit.state_dict().items()}
    sd.update({'cls_head.fc_cls.weight': w, 'cls_head.fc_cls.bias': b})
    return {'meta': {'epoch': 3, 'seed': 0}, 'state_dict': sd}


UMT = dict(tubelet_size=1, pos_ref_grid=(4, 2, 2))
# name -> (VideoViT kwargs, builder, expected format, expected dropped pretraining-only key)
PRETRAIN = dict(use_mean_pooling=False)  # pretraining encoders end with `norm`, no fc_norm
CASES = {
    'videomaev2-pretrain': (PRETRAIN, videomaev2_pretrain, 'videomaev2-pretrain', 'mask_token'),
    'videomaev2-pretrain-compiled': (PRETRAIN, lambda v: videomaev2_pretrain(v, compiled=True),
                                     'videomaev2-pretrain', 'decoder.head.weight'),
    'videomaev2-finetune': ({}, official_finetune, 'official-finetune', None),
    'videomaev2-finetune-deepspeed': ({}, lambda v: official_finetune(v, 'module'), 'official-finetune',
                                      None),
    'videomaev2-distilled': (dict(embed_dim=48, num_heads=3), lambda v: official_finetune(v, 'module'),
                             'official-finetune', None),
    'umt-stage1': (dict(UMT, use_mean_pooling=False), umt_stage1, 'umt-stage1', 'clip_decoder.1.head.weight'),
    'umt-finetune': (dict(UMT, pos_embed='learnable'), official_finetune, 'official-finetune', None),
    'umt-stage2': (dict(UMT, use_mean_pooling=False), umt_stage2, 'umt-stage2',
                   'text_encoder.cls.predictions.bias'),
    'mmaction2': ({}, mmaction2_recognizer, 'mmaction2', None),
    'mmaction2-learnable-pos': (dict(pos_embed='learnable'), mmaction2_recognizer, 'mmaction2', None),
    'videofm': ({}, videofm_recognizer, 'videofm', None),
    'bare-videovit': ({}, lambda v: {k: t.clone() for k, t in v.state_dict().items()}, 'official-finetune',
                      None),
}


def weights_of(ckpt: dict) -> dict:
    for key in ('model', 'module', 'state_dict'):
        if key in ckpt:
            return ckpt[key]
    return ckpt


def save(ckpt: dict, path: Path) -> Path:
    if path.suffix == '.safetensors':
        save_file({k: v.contiguous() for k, v in weights_of(ckpt).items()}, str(path))
    else:
        torch.save(ckpt, path)
    return path


# ------------------------------------------------------------------------------------- every format
@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
@pytest.mark.parametrize('case', list(CASES))
def test_every_format_loads_and_reproduces_outputs(case, suffix, tmp_path):
    kwargs, build, fmt, pretrain_key = CASES[case]
    src = make_vit(0, **kwargs)
    path = save(build(src), tmp_path / f'{case}{suffix}')
    dst = make_vit(1, **kwargs)
    report = load_pretrained(dst, path)
    assert report.format == fmt
    assert report.missing == [] and report.unexpected == [], str(report)
    assert_same_outputs(src, dst)
    if pretrain_key is not None:
        assert pretrain_key in report.pretraining_only
    if case.startswith('mmaction2') and 'learnable' not in case:
        assert 'pos_embed' in report.dropped_keys  # mmaction2's sinusoid buffer, regenerated by VideoViT
    text = str(report)
    assert text.startswith('LoadReport: ') and str(path) in text and fmt in text


def test_mmaction2_port_computes_like_videovit():
    """mmaction2's VisionTransformer (mean pooling) equals VideoViT given the same weights: same 1-D sinusoid
    buffer, pre-norm blocks and fc_norm(mean). (Its use_mean_pooling=False path returns x[:, 0] of a model
    without a CLS token, so only the mean-pooling path is comparable.)"""
    for kwargs in ({}, dict(pos_embed='learnable')):
        vit = make_vit(0, **kwargs)
        mm = mmaction2_vit(vit)
        x = clip_for(vit)
        with torch.no_grad():
            assert_close(mm(x), outputs(vit, x)[1])


def test_mmaction2_key_names_match_the_real_port():
    """The converter's mmaction2 renames cover exactly the real module's keys."""
    vit = make_vit(0)
    mm_keys = set(mmaction2_vit(vit).state_dict())
    converted, _ = convert_state_dict({k: torch.zeros(1) for k in mm_keys})
    assert set(converted) == set(vit.state_dict()) | {'pos_embed'}


# ------------------------------------------------------------------------------------ conversion API
def test_compiled_prefix_and_pretrain_target(tmp_path):
    vit = make_vit(0, use_mean_pooling=False)
    sd, report = convert_state_dict(videomaev2_pretrain(vit, compiled=True), target='pretrain')
    assert not any('_orig_mod.' in k for k in sd)
    assert {'encoder_to_decoder.weight', 'mask_token', 'decoder.head.weight', 'encoder.blocks.1.attn.q_bias',
            'encoder.patch_embed.proj.weight', 'encoder.norm.weight'} <= set(sd)
    assert report.container == 'model' and any('_orig_mod.' in n for n in report.notes)
    assert any('args' in n for n in report.notes)  # ignored top-level entries are named

    backbone, report = convert_state_dict(videomaev2_pretrain(vit), target='backbone')
    assert set(backbone) == set(vit.state_dict())
    assert 'encoder_to_decoder.weight' in report.pretraining_only


def test_ddp_module_prefix_is_stripped():
    vit = make_vit(0)
    sd, report = convert_state_dict({'model': {'module.' + k: v for k, v in official_encoder(vit).items()}})
    assert set(sd) == set(vit.state_dict()) and any("'module.'" in n for n in report.notes)


def test_umt_stage2_drops_multimodal_parts():
    vit = make_vit(0, **UMT, use_mean_pooling=False)
    sd, report = convert_state_dict(umt_stage2(vit))
    assert set(sd) == set(vit.state_dict())
    for key in ('clip_teacher.proj', 'temp', 'itm_head.weight', 'vision_proj.weight', 'text_proj.bias',
                'vision_encoder.pool_norm.weight', 'vision_encoder.clip_decoder.0.head.weight'):
        assert key in report.pretraining_only
    sd, _ = convert_state_dict(umt_stage2(vit), target='pretrain')
    assert 'encoder.blocks.0.attn.qkv.weight' in sd and 'text_encoder.cls.predictions.bias' in sd


def test_recognizer_target_keeps_head_under_videofm_names():
    vit = make_vit(0)
    for build in (official_finetune, mmaction2_recognizer, videofm_recognizer):
        sd, report = convert_state_dict(build(vit), target='recognizer')
        w, b = head(vit)
        assert_close(sd['cls_head.fc_cls.weight'], w)
        assert_close(sd['cls_head.fc_cls.bias'], b)
        assert 'backbone.patch_embed.proj.weight' in sd and 'backbone.blocks.1.mlp.fc2.weight' in sd
    _, report = convert_state_dict(official_finetune(vit), target='backbone')
    assert report.dropped['classifier head'] == ['head.weight', 'head.bias']


def test_unknown_layout_and_bad_target_fail_loudly():
    with pytest.raises(ValueError, match='unknown checkpoint layout'):
        convert_state_dict({'foo.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='target must be one of'):
        convert_state_dict({'patch_embed.proj.weight': torch.zeros(1)}, target='detector')
    with pytest.raises(ValueError, match='found no weights'):
        convert_state_dict({'epoch': 3, 'args': None})



def test_errors_name_the_users_file_not_the_code(tmp_path):
    """A message names the checkpoint, key or argument the user gave, never the module that raised."""
    path = tmp_path / 'my_weights.pth'
    torch.save({'model': {'foo.weight': torch.zeros(1)}}, path)
    with pytest.raises(ValueError) as err:
        load_pretrained(VideoViT(**TINY), path)
    assert str(err.value).startswith(f'{path}: unknown checkpoint layout')
    torch.save({'epoch': 3}, path)
    with pytest.raises(ValueError, match=f'found no weights in {path}'):
        load_pretrained(VideoViT(**TINY), path)
    # and no message anywhere in backbones/ starts with a source path
    import re
    root = Path(backbones.__file__).parent
    pattern = re.compile(r"""raise \w+\(\s*f?['"](backbones[/.]|[\w/]+\.py:)""")
    for source in root.rglob('*.py'):
        assert not pattern.search(source.read_text()), source
        assert '_FILE' not in source.read_text(), source


# ------------------------------------------------------------------------------------------ heads
class TinyRecognizer(nn.Module):
    def __init__(self, vit: VideoViT, num_classes: int):
        super().__init__()
        self.backbone = vit
        self.cls_head = nn.Module()
        self.cls_head.fc_cls = nn.Linear(vit.embed_dim, num_classes)


def test_remap_head_with_synthetic_label_map(tmp_path):
    weight, bias = torch.arange(10.)[:, None].repeat(1, 4), torch.arange(10.)
    mapping = [4, 0, 9]
    for label_map in (mapping, tmp_path / 'label_10to3.json'):
        (tmp_path / 'label_10to3.json').write_text(json.dumps(mapping))
        w, b = remap_head(weight, bias, label_map)
        assert w[:, 0].tolist() == [4, 0, 9] and b.tolist() == [4, 0, 9]
    with pytest.raises(ValueError, match='outside the source head of 10 rows'):
        remap_head(weight, bias, [3, 10])
    with pytest.raises(FileNotFoundError, match='label_710to400.json'):
        remap_head(weight, bias, tmp_path / 'label_710to400.json')


def test_k710_head_remap_into_recognizer(tmp_path):
    vit = make_vit(0)
    path = save(official_finetune(vit), tmp_path / 'k710.pth')  # head: 5 "K710" classes
    (tmp_path / 'map.json').write_text(json.dumps([3, 1, 4]))
    rec = TinyRecognizer(make_vit(1), 3)
    report = load_pretrained(rec, path, target='recognizer', label_map=tmp_path / 'map.json')
    w, b = head(vit)
    assert_close(rec.cls_head.fc_cls.weight, w[[3, 1, 4]])
    assert_close(rec.cls_head.fc_cls.bias, b[[3, 1, 4]])
    assert 'cls_head.fc_cls.weight' in report.reshaped and report.missing == []
    assert_same_outputs(vit, rec.backbone)


def test_head_with_other_class_count_is_dropped_with_a_note(tmp_path):
    vit = make_vit(0)
    path = save(mmaction2_recognizer(vit), tmp_path / 'mm.pth')
    rec = TinyRecognizer(make_vit(1), 7)
    before = rec.cls_head.fc_cls.weight.detach().clone()
    report = load_pretrained(rec, path, target='recognizer')
    assert_close(rec.cls_head.fc_cls.weight, before)
    assert {'cls_head.fc_cls.weight', 'cls_head.fc_cls.bias'} <= set(report.dropped_keys)
    assert any('5 classes' in n and '7' in n for n in report.notes)
    assert_same_outputs(vit, rec.backbone)


# ------------------------------------------------------------------------------------ position tables
def test_umt_finetune_pos_embed_resampled_to_model_grid(tmp_path):
    src = make_vit(0, **UMT, pos_embed='learnable')  # grid (4, 2, 2)
    for name in ('with_args.pth', 'bare.safetensors'):
        path = save(official_finetune(src), tmp_path / name)  # safetensors: no args, grid inferred
        dst = make_vit(1, **UMT, pos_embed='learnable', num_frames=8)  # grid (8, 2, 2)
        report = load_pretrained(dst, path)
        assert 'pos_embed' in report.reshaped and '(4, 2, 2) -> (8, 2, 2)' in report.reshaped['pos_embed']
        assert_close(dst.pos_embed.detach(), resample_pos_embed(src.pos_embed.detach(), (4, 2, 2), (8, 2, 2)))
        assert dst.pos_embed.shape == (1, 32, src.embed_dim) and report.missing == []
        assert 'reshaped (1):' in str(report)


def test_resample_pos_embed_shapes():
    table = torch.randn(1, 16, 8)
    assert resample_pos_embed(table, (4, 2, 2), (4, 2, 2)) is not None
    assert resample_pos_embed(table, (4, 2, 2), (2, 3, 3)).shape == (1, 18, 8)
    assert resample_pos_embed(table[0], (4, 2, 2), (8, 2, 2)).shape == (32, 8)


def test_ambiguous_pos_grid_needs_pos_grid(tmp_path):
    vit = make_vit(0, pos_embed='learnable')  # grid (2, 2, 2)
    sd = {k: v.clone() for k, v in vit.state_dict().items()}
    sd['pos_embed'] = torch.randn(1, 32, vit.embed_dim)  # (8, 2, 2) or (2, 4, 4)?
    path = save(sd, tmp_path / 'ambiguous.pth')
    with pytest.raises(RuntimeError, match='pos_grid'):
        load_pretrained(make_vit(1, pos_embed='learnable'), path)
    report = load_pretrained(make_vit(1, pos_embed='learnable'), path, pos_grid=(8, 2, 2))
    assert '(8, 2, 2) -> (2, 2, 2)' in report.reshaped['pos_embed']
    # official checkpoints carry the training shape in `args`, which settles it
    args = argparse.Namespace(num_frames=8, tubelet_size=1, input_size=64)  # grid (8, 4, 4): no match, ignored
    torch.save({'model': sd, 'args': args}, tmp_path / 'bad_args.pth')
    with pytest.raises(RuntimeError, match='pos_grid'):
        load_pretrained(make_vit(1, pos_embed='learnable'), tmp_path / 'bad_args.pth')
    args = argparse.Namespace(num_frames=4, tubelet_size=2, input_size=64)  # grid (2, 4, 4)
    torch.save({'model': sd, 'args': args}, tmp_path / 'args.pth')
    report = load_pretrained(make_vit(1, pos_embed='learnable'), tmp_path / 'args.pth')
    assert '(2, 4, 4) -> (2, 2, 2)' in report.reshaped['pos_embed']


def test_learned_pos_embed_into_fixed_sinusoid_model_fails(tmp_path):
    src = make_vit(0, **UMT, pos_embed='learnable')
    path = save(official_finetune(src), tmp_path / 'umt_ft.pth')
    with pytest.raises(RuntimeError, match="pos_embed='learnable'"):
        load_pretrained(make_vit(1, **UMT), path)


# ----------------------------------------------------------------------------------- architecture
def test_mismatched_architecture_raises_naming_file_key_and_shapes(tmp_path):
    wider = make_vit(0, embed_dim=48, use_mean_pooling=False)
    path = save(videomaev2_pretrain(wider), tmp_path / 'vit_l.pth')
    with pytest.raises(RuntimeError) as err:
        load_pretrained(make_vit(1, use_mean_pooling=False), path)
    msg = str(err.value)
    assert str(path) in msg and 'patch_embed.proj.weight' in msg
    assert '[48, 3, 2, 16, 16]' in msg and '[32, 3, 2, 16, 16]' in msg

    path = save(official_finetune(make_vit(0, depth=3)), tmp_path / 'deeper.pth')
    with pytest.raises(RuntimeError, match=r'not in the model: blocks\.2\.'):
        load_pretrained(make_vit(1), path)
    report = load_pretrained(make_vit(1), path, strict_encoder=False)
    assert any(k.startswith('blocks.2.') for k in report.unexpected)


def test_backbone_target_into_a_recognizer_fails(tmp_path):
    path = save(official_finetune(make_vit(0)), tmp_path / 'ft.pth')
    with pytest.raises(RuntimeError, match="target='recognizer'"):
        load_pretrained(TinyRecognizer(make_vit(1), NUM_CLASSES), path)


def test_pretrain_encoder_into_mean_pooling_model_notes_fc_norm(tmp_path):
    src = make_vit(0, use_mean_pooling=False)
    path = save(videomaev2_pretrain(src), tmp_path / 'pt.pth')
    dst = make_vit(1)
    report = load_pretrained(dst, path)
    assert report.missing == ['fc_norm.weight', 'fc_norm.bias']
    assert report.unexpected == ['norm.weight', 'norm.bias']
    assert any('fc_norm keeps its initialisation' in n for n in report.notes)
    x = clip_for(src)
    with torch.no_grad():
        assert_close(dst.blocks[-1](dst.embed(x)), src.blocks[-1](src.embed(x)))


# ------------------------------------------------------------------------------------- safe loading
def test_missing_file():
    with pytest.raises(FileNotFoundError, match='nowhere/ckpt.pth'):
        load_checkpoint_file('/nowhere/ckpt.pth')


def test_official_args_namespace_is_allowed(tmp_path):
    path = save(official_finetune(make_vit(0)), tmp_path / 'ft.pth')
    ckpt = load_checkpoint_file(path)
    assert isinstance(ckpt['args'], argparse.Namespace) and ckpt['args'].tubelet_size == 2
    with pytest.raises(Exception, match='Namespace'):  # allowed only inside load_checkpoint_file
        torch.load(path, weights_only=True)


class _RunsAShellCommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def test_pickled_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'model': official_encoder(make_vit(0)), 'args': _RunsAShellCommand(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(path)
    msg = str(err.value)
    assert str(path) in msg and 'posix.system' in msg and 'torch said: Weights only load failed' in msg
    assert not marker.exists()


def test_custom_class_is_refused(tmp_path, monkeypatch):
    module = types.ModuleType('videofm_untrusted')

    class Payload:
        pass

    Payload.__module__, Payload.__qualname__ = module.__name__, 'Payload'
    module.Payload = Payload
    monkeypatch.setitem(sys.modules, module.__name__, module)
    path = tmp_path / 'custom.pth'
    torch.save({'model': official_encoder(make_vit(0)), 'config': Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match='videofm_untrusted.Payload'):
        load_pretrained(make_vit(1), path)


# ------------------------------------------------------------------------------------- init_cfg hook
class HookedViT(VideoViT):
    def init_weights(self) -> None:  # the override proposed for VideoViT
        from backbones.pretrained import has_pretrained_cfg, init_from_pretrained
        if not has_pretrained_cfg(self.init_cfg):
            return super().init_weights()
        init_from_pretrained(self, self.init_cfg)


class Parent(BaseModule):
    def __init__(self, child):
        super().__init__()
        self.child = child


def test_init_from_pretrained_and_prefix(tmp_path):
    src = make_vit(0)
    path = save(videofm_recognizer(src), tmp_path / 'videofm.pth')
    dst = make_vit(1)
    report = init_from_pretrained(dst, dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    assert dst.is_init and report.format == 'official-finetune' and report.missing == []
    assert_same_outputs(src, dst)
    assert init_from_pretrained(dst, dict(type='Pretrained', checkpoint=str(path))) is None  # already done
    with pytest.raises(ValueError, match="unknown keys \\['strict'\\]"):
        init_from_pretrained(make_vit(2), dict(type='Pretrained', checkpoint=str(path), strict=True))
    with pytest.raises(ValueError, match='no keys under prefix'):
        init_from_pretrained(make_vit(2), dict(type='Pretrained', checkpoint=str(path), prefix='encoder.'))
    assert has_pretrained_cfg([dict(type='Constant', val=0), dict(type='Pretrained', checkpoint='x')])
    assert not has_pretrained_cfg(None)


def test_init_weights_override_through_a_parent(tmp_path):
    src = make_vit(0, use_mean_pooling=False)
    path = save(videomaev2_pretrain(src), tmp_path / 'pt.pth')
    child = HookedViT(**TINY, use_mean_pooling=False, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    Parent(child).init_weights()  # MMEngine bookkeeping (_params_init_info) must accept it
    assert child.is_init
    assert_same_outputs(src, child.eval())


@pytest.mark.skipif('init_weights' not in VideoViT.__dict__,
                    reason='VideoViT.init_weights override not added yet')
def test_videovit_init_cfg_pretrained_converts(tmp_path):
    src = make_vit(0, **UMT, use_mean_pooling=False)
    path = save(umt_stage1(src), tmp_path / 'umt_s1.pth')
    dst = VideoViT(**{**TINY, **UMT}, use_mean_pooling=False,
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    dst.init_weights()
    assert_same_outputs(src, dst.eval())


# ---------------------------------------------------------------------------------------------- CLI
def _load_cli():
    spec = importlib.util.spec_from_file_location('videofm_convert_ckpt', ROOT / 'tools' / 'convert_ckpt.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_help_and_recognizer_label_map(tmp_path, capsys):
    cli = _load_cli()
    with pytest.raises(SystemExit) as err:
        cli.main(['--help'])
    assert err.value.code == 0 and '--target' in capsys.readouterr().out
    vit = make_vit(0)
    src = save(official_finetune(vit), tmp_path / 'k710.pth')
    (tmp_path / 'map.json').write_text(json.dumps([2, 0]))
    cli.main([str(src), str(tmp_path / 'rec.pth'), '--target', 'recognizer',
              '--label-map', str(tmp_path / 'map.json')])
    assert 'LoadReport' in capsys.readouterr().out
    out = torch.load(tmp_path / 'rec.pth', weights_only=True)
    assert out['meta']['format'] == 'official-finetune' and out['meta']['target'] == 'recognizer'
    assert out['state_dict']['cls_head.fc_cls.weight'].shape == (2, vit.embed_dim)


@pytest.mark.slow
def test_cli_round_trip_subprocess(tmp_path):
    src_vit = make_vit(0, use_mean_pooling=False)
    src = save(videomaev2_pretrain(src_vit, compiled=True), tmp_path / 'official.pth')
    outs = [tmp_path / 'converted.pth', tmp_path / 'converted.safetensors']
    env = {**os.environ, 'HF_HUB_OFFLINE': '1'}
    procs = [subprocess.Popen([sys.executable, 'tools/convert_ckpt.py', str(src), str(dst)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for dst in outs]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=1800)
        assert proc.returncode == 0, stderr
        assert 'videomaev2-pretrain' in stdout and 'pretraining-only' in stdout
    assert set(torch.load(outs[0], weights_only=True)) == {'state_dict', 'meta'}  # no extra globals needed
    for dst in outs:
        model = make_vit(1, use_mean_pooling=False)
        report = load_pretrained(model, dst)
        assert report.missing == [] and report.unexpected == []
        assert_same_outputs(src_vit, model)


def test_report_is_one_readable_block():
    vit = make_vit(0, use_mean_pooling=False)
    _, report = convert_state_dict(videomaev2_pretrain(vit), source='vmae2_pt.pth')
    text = str(report)
    assert isinstance(report, LoadReport) and text.count('LoadReport') == 1
    assert ('dropped, pretraining-only (10): encoder_to_decoder.weight, mask_token, decoder.blocks.* (4)'
            in text)
