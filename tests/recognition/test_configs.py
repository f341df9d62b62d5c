"""Every recognition config builds at tiny size and runs one train step (its own train pipeline, data
preprocessor with mixup/cutmix, layer-decay optimizer) and one multi-view test step (its own test pipeline)
on a real toy video."""
import copy
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import tasks  # noqa: F401
from backbones.presets import get_preset
from backbones.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / 'configs/recognition').glob('*/*.py'))
SIZE = 32


def _shrink(pipeline):
    out = []
    for t in copy.deepcopy(pipeline):
        if t['type'] == 'Resize':
            t['scale'] = tuple(SIZE if s == 224 else s for s in t['scale'])
        if t['type'] in ('ThreeCrop', 'CenterCrop'):
            t['crop_size'] = SIZE
        out.append(t)
    return out


def tiny_config(path: Path) -> Config:
    """The config with a 2-block 32-wide VideoViT at 32 px (tubelet and frames as in the config)."""
    cfg = Config.fromfile(str(path))
    bb = cfg.model.backbone
    preset = get_preset(bb.arch) if bb.get('arch') else {}
    frames = preset.get('num_frames', 16)
    cfg.model.backbone = dict(type='VideoViT', img_size=SIZE, num_frames=frames, patch_size=8,
                              tubelet_size=preset.get('tubelet_size', bb.get('tubelet_size', 2)), embed_dim=32,
                              depth=2, num_heads=2, drop_path_rate=bb.get('drop_path_rate', 0.),
                              with_cp=bb.get('with_cp', False), out_type='pooled')
    cfg.model.cls_head.in_channels = 32
    if cfg.model.cls_head.get('label_map') is not None:  # the official JSON is not in the repo: synthetic map
        n, k = cfg.model.cls_head.num_source_classes, cfg.model.cls_head.num_classes
        cfg.model.cls_head.label_map = list(range(n - 1, n - 1 - k, -1))
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.pipeline = _shrink(cfg[loader].dataset.pipeline)
    return cfg


def expected_views(cfg) -> int:
    pipe = cfg.test_dataloader.dataset.pipeline
    clips = next(t.get('num_clips', 1) for t in pipe if t['type'] in ('SampleFrames', 'UniformSample'))
    crops = 3 if any(t['type'] == 'ThreeCrop' for t in pipe) else 1
    return clips * crops


def test_there_are_configs_for_every_model_and_dataset():
    names = {f'{p.parent.name}/{p.name}' for p in CONFIGS}
    for size in 'sblhg':
        for data in ('kinetics400', 'kinetics710', 'sthv2'):
            assert any(n.startswith(f'videomaev2/vit-{size}-') and n.endswith(f'_{data}.py')
                       for n in names), (size, data)
    for data in ('ucf101', 'hmdb51', 'kinetics600', 'kinetics700'):
        assert any(n.startswith('videomaev2/vit-g-') and n.endswith(f'_{data}.py') for n in names), data
    for size in 'bl':
        for data in ('kinetics400', 'kinetics710', 'sthv2'):
            assert any(n.startswith(f'umt/vit-{size}-') and n.endswith(f'_{data}.py')
                       for n in names), (size, data)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_contract(path):
    """Recipe-level facts every config must state."""
    cfg = Config.fromfile(str(path))
    metrics = cfg.test_evaluator.metric_list
    assert 'top_k_accuracy' in metrics and 'mean_class_accuracy' in metrics
    assert cfg.model.cls_head.get('average_clips', 'prob') == 'prob'
    if 'toy' in path.stem:
        return
    assert cfg.optim_wrapper.constructor == 'LayerDecayOptimWrapperConstructor'
    assert cfg.auto_scale_lr.base_batch_size == 256
    head = cfg.model.cls_head
    assert head.init_scale == 0.001 and head.label_smooth_eps == 0.1
    blending = cfg.model.data_preprocessor.get('blending')
    if '-test_' not in path.stem:
        assert [(a.type, a.alpha, a.num_classes) for a in blending.augments] == [
            ('MixupBlending', 0.8, head.num_classes), ('CutmixBlending', 1.0, head.num_classes)]
        train = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
        assert 'VideoRandAugment' in train and 'RandomErasing' in train and 'RandomResizedCrop' in train
        assert ('Flip' in train) == ('sthv2' not in path.stem)
        assert cfg.train_dataloader.dataset.num_repeats == 2
    views = expected_views(cfg)
    umt = path.parent.name == 'umt'
    if 'sthv2' in path.stem:
        assert views == 6
    elif umt and '-u16-' in path.stem:
        assert views == 4  # the official 16-frame scripts test 4 clips x 1 crop
    else:
        assert views == (12 if umt else 15)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_tiny_train_and_multiview_test_step(path, toy_video, toy_rawframes):
    cfg = tiny_config(path)
    init_default_scope('videofm')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    if any(t['type'] == 'CheckedRawFrameDecode' for t in cfg.train_dataloader.dataset.pipeline):
        info = dict(frame_dir=str(toy_rawframes / 'toy'), total_frames=72, filename_tmpl='img_{:05}.jpg', label=1,
                    start_index=1, modality='RGB')
    else:
        info = dict(filename=str(toy_video), label=1, start_index=0, modality='RGB')

    train = Compose(cfg.train_dataloader.dataset.pipeline)
    batch = pseudo_collate([train(dict(info)) for _ in range(2)])
    model.train()
    losses = model.train_step(batch, optim_wrapper)
    assert torch.isfinite(losses['loss_cls']), losses

    test = Compose(cfg.test_dataloader.dataset.pipeline)
    sample = test(dict(info))
    views = expected_views(cfg)
    assert sample['inputs'].shape[:2] == (views, 3)
    model.eval()
    with torch.no_grad():
        out = model.test_step(pseudo_collate([sample, test(dict(info))]))
    assert len(out) == 2
    score = out[0].pred_score
    assert score.shape == (cfg.model.cls_head.num_classes,)
    assert torch.allclose(score.sum(), torch.tensor(1.), atol=1e-5)  # mean of softmax over views


# ---------------------------------------------------------------------------------------------------------
# Rawframe lists: each config with its dataset base swapped for the *_rawframes.py one
# ---------------------------------------------------------------------------------------------------------
RAWFRAME_BASES = ('kinetics400', 'kinetics600', 'kinetics700', 'kinetics710', 'sthv2', 'ucf101', 'hmdb51')
# The K600 / K700 evaluation configs set their video lists themselves (no dataset base of their own).
NO_RAWFRAME_VARIANT = ('toy', '-test_kinetics600', '-test_kinetics700')
RAWFRAME_CONFIGS = [p for p in CONFIGS if not any(s in p.stem for s in NO_RAWFRAME_VARIANT)]
DATASET_TYPES = {'VideoListDataset': 'RawframeListDataset', 'RepeatAugVideoListDataset': 'RepeatAugRawframeListDataset'}


def rawframe_variant(path: Path, out_dir: Path) -> Path:
    """Copy ``path`` (and the sibling configs it inherits) into ``out_dir`` with every dataset base replaced by
    its ``*_rawframes.py`` twin: what a user does to train a config on extracted frames."""
    text = path.read_text().replace("'../../_base_/", f"'{ROOT}/configs/_base_/")
    for name in RAWFRAME_BASES:
        text = text.replace(f"/datasets/{name}.py'", f"/datasets/{name}_rawframes.py'")
    for sibling in re.findall(r"'\./([\w.-]+\.py)'", text):
        rawframe_variant(path.parent / sibling, out_dir)
    out = out_dir / path.name
    out.write_text(text)
    return out


def test_every_dataset_base_has_a_rawframe_twin():
    bases = ROOT / 'configs/_base_/datasets'
    for name in RAWFRAME_BASES:
        assert (bases / f'{name}.py').is_file() and (bases / f'{name}_rawframes.py').is_file(), name


@pytest.mark.parametrize('path', RAWFRAME_CONFIGS, ids=lambda p: p.stem)
def test_rawframe_variant_reads_frames_with_the_same_recipe(path, tmp_path):
    video = Config.fromfile(str(path))
    raw = Config.fromfile(str(rawframe_variant(path, tmp_path)))
    assert raw.model == video.model and raw.optim_wrapper == video.optim_wrapper
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        v, r = video[loader], raw[loader]
        assert r.batch_size == v.batch_size and r.get('collate_fn') == v.get('collate_fn')
        assert r.dataset.type == DATASET_TYPES[v.dataset.type]
        assert r.dataset.num_classes == v.dataset.num_classes
        for key in ('num_repeats', 'sample_once', 'test_mode'):
            assert r.dataset.get(key) == v.dataset.get(key), key
        assert r.dataset.ann_file.endswith('_rawframes.txt') and 'rawframes' in r.dataset.data_prefix['img']
        assert set(r.dataset.data_prefix) == {'img'}
        # same sampling and augmentation; frames read from JPEG files instead of decoded from the video
        expected = [dict(type='CheckedRawFrameDecode') if t['type'] == 'DecordDecode' else t
                    for t in v.dataset.pipeline if t['type'] != 'DecordInit']
        assert r.dataset.pipeline == expected


@pytest.mark.parametrize('name', ['videomaev2/vit-b-p16_vmaev2-pre_8xb8-16x4x1-90e_kinetics400',
                                  'umt/vit-b-p16_umt-pre_16xb16-u8-30e_sthv2',
                                  'videomaev2/vit-g-p14_vmaev2-pre-k710-ft_8xb8-16x4x1-30e_ucf101'])
def test_rawframe_config_tiny_train_and_test_step(name, toy_rawframes, tmp_path):
    """The datasets the rawframe configs build (repeated augmentation in training) feed a train and a
    multi-view test step."""
    from mmaction.datasets import repeat_pseudo_collate
    from mmengine.registry import DATASETS
    cfg = tiny_config(rawframe_variant(ROOT / 'configs/recognition' / f'{name}.py', tmp_path))
    init_default_scope('videofm')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    data = dict(ann_file=str(toy_rawframes / 'list.txt'), data_prefix=dict(img=str(toy_rawframes)))
    train = DATASETS.build(dict(cfg.train_dataloader.dataset, **data))
    batch = repeat_pseudo_collate([train[0], train[0]])
    assert len(batch['inputs']) == 2 * cfg.train_dataloader.dataset.num_repeats
    model.train()
    assert torch.isfinite(model.train_step(batch, optim_wrapper)['loss_cls'])
    test = DATASETS.build(dict(cfg.test_dataloader.dataset, **data))
    sample = test[0]
    assert sample['inputs'].shape[:2] == (expected_views(cfg), 3)
    model.eval()
    with torch.no_grad():
        score = model.test_step(pseudo_collate([sample]))[0].pred_score
    assert torch.allclose(score.sum(), torch.tensor(1.), atol=1e-5)


def test_umt_16_frame_config_starts_from_the_stretched_8_frame_table():
    """The 16-frame UMT-L config trains a learnable table initialised from the checkpoint's 8x14x14 sinusoid
    stretched linearly in time (official fine-tuning), not from a flat table over 3136 tokens."""
    import numpy as np
    from mmengine.registry import init_default_scope

    from backbones.layers.pos_embed import sincos_table
    from backbones.registry import MODELS
    cfg = Config.fromfile(str(ROOT / 'configs/recognition/umt/vit-l-p16_umt-pre-k710-ft_16xb8-u16-5e_kinetics400.py'))
    init_default_scope('videofm')
    backbone = dict(cfg.model.backbone, depth=1, init_cfg=None)
    vit = MODELS.build(backbone)
    assert vit.pos_embed is not None and vit.pos_embed.shape == (1, 16 * 14 * 14, 1024)
    # official: the (8, 14*14, C) table, linear in time with align_corners=False, to 16 frames
    ref = sincos_table(8 * 14 * 14, 1024).double().numpy().reshape(8, 196, 1024)
    pos = (np.arange(16) + 0.5) * 8 / 16 - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, 7)
    hi = np.clip(lo + 1, 0, 7)
    w = np.clip(pos - lo, 0, 1)[:, None, None]
    expected = (1 - w) * ref[lo] + w * ref[hi]
    np.testing.assert_allclose(vit.pos_embed.detach()[0].double().numpy().reshape(16, 196, 1024), expected, atol=1e-6)
