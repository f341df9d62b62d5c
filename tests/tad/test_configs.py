"""Every TAD config: the reference recipe it states, and one train step + one test step (its own datasets,
pipelines, optimizer and evaluator) at tiny size on synthetic features."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import tasks  # noqa: F401
from backbones.registry import DATASETS, METRICS, MODELS

ROOT = Path(__file__).resolve().parents[2]
# feature-based ActionFormer configs; the end-to-end (AdaTAD) ones are tested in test_end_to_end.py
CONFIGS = sorted(p for p in (ROOT / 'configs/tad').glob('*/*.py') if not p.name.startswith('adatad'))
C = 16


def test_there_are_configs_for_thumos_anet_and_toy():
    names = {p.name for p in CONFIGS}
    assert any(n.endswith('_thumos14.py') for n in names) and any(n.endswith('_activitynet13.py') for n in names)
    assert any(n.endswith('_toy-tad.py') for n in names)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_states_the_reference_recipe(path):
    cfg = Config.fromfile(str(path))
    m, opt = cfg.model, cfg.optim_wrapper
    assert m.type == 'ActionFormer' and tuple(m.arch) == (2, 2, 5)
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.weight_decay == 0.05 and opt.clip_grad.max_norm == 1.0
    assert [h.type for h in cfg.custom_hooks] == ['EMAHook']
    assert cfg.val_evaluator.type == 'TADmAP' and cfg.test_evaluator.type == 'TADmAP'
    assert cfg.val_evaluator.ann_file == cfg.val_dataloader.dataset.ann_file
    assert cfg.val_evaluator.subset == cfg.val_dataloader.dataset.subset
    assert cfg.train_dataloader.dataset.pipeline[0].type == 'RandomTruncateFeatures'
    assert cfg.train_dataloader.dataset.pipeline[0].crop_ratio == (0.9, 1.0)
    assert m.in_channels == cfg.train_dataloader.dataset.feat_dim
    warm, cos = cfg.param_scheduler
    # the cosine starts after warmup and ends with training (no `end`: MMEngine uses the train loop's max_epochs)
    assert warm.type == 'LinearLR' and cos.type == 'CosineAnnealingLR' and cos.begin == warm.end
    assert 'end' not in cos and 'T_max' not in cos
    if path.parent.name == 'toy':
        return
    assert m.in_channels == 1408 and cfg.custom_hooks[0].momentum == 0.001  # VideoMAE V2-g, EMA decay 0.999
    if 'thumos14' in path.stem:
        assert opt.optimizer.lr == 1e-4 and cfg.train_dataloader.batch_size == 2
        assert (warm.end, cfg.train_cfg.max_epochs) == (5, 35)
        assert m.embed_dims == 512 and m.window_size == 19 and m.num_classes == 20
        assert cfg.train_dataloader.dataset.pipeline[0].max_seq_len == 2304
        assert cfg.train_dataloader.dataset.pipeline[0].trunc_thresh == 0.5
        assert m.test_cfg.pre_nms_thresh == 0.001 and m.test_cfg.pre_nms_topk == 2000
        assert dict(m.test_cfg.nms) == dict(method='soft', sigma=0.5, min_score=0.001, max_segments=200,
                                            multiclass=True)
        assert cfg.val_evaluator.tiou_thresholds == 'thumos14' and cfg.val_evaluator.subset == 'test'
        assert cfg.train_dataloader.dataset.subset == 'validation'
    else:
        assert m.embed_dims == 256 and list(m.window_size) == [7, 7, 7, 7, 7, None] and m.num_classes == 1
        assert m.test_cfg.nms.multiclass is False and m.test_cfg.external_classifier.topk == 2
        ds = cfg.train_dataloader.dataset
        assert ds.class_agnostic and ds.resize_length == 128 and ds.resize_cache_dir
        assert cfg.val_evaluator.tiou_thresholds == 'activitynet'


def synthetic_set(tmp, train_subset, test_subset, classes):
    rng = np.random.default_rng(0)
    db = {}
    (tmp / 'feats').mkdir()
    for vid, subset in (('a', train_subset), ('b', train_subset), ('c', test_subset)):
        db[vid] = dict(subset=subset, duration=30.0, fps=10.0, annotations=[
            dict(segment=[2.0 + 5 * k, 5.0 + 5 * k], label=classes[k % len(classes)]) for k in range(4)])
        np.save(tmp / 'feats' / f'{vid}.npy', rng.normal(size=(71, C)).astype(np.float32))  # (300 - 16) // 4 + 1
    (tmp / 'feats' / 'features.json').write_text(json.dumps(dict(fps=10.0, stride=4, clip_len=16, offset=8.0)))
    (tmp / 'gt.json').write_text(json.dumps(dict(database=db)))
    (tmp / 'clf.json').write_text(json.dumps(dict(results={v: rng.random(len(classes)).tolist() for v in db},
                                                  **{'class': list(classes)})))


def _dataset(cfg_ds, tmp):
    ds = copy.deepcopy(cfg_ds)
    if ds.type == 'ToyTADDataset':
        ds.type = 'TADFeatureDataset'
        ds.pop('toy')
    ds.update(ann_file=str(tmp / 'gt.json'), feat_root=str(tmp / 'feats'), feat_dim=C)
    if ds.get('resize_cache_dir'):
        ds.resize_cache_dir = str(tmp / 'resized')
    return DATASETS.build(ds)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_tiny_train_and_test_step(path, tmp_path):
    cfg = Config.fromfile(str(path))
    init_default_scope('videofm')
    classes = [f'class{k}' for k in range(3)]
    synthetic_set(tmp_path, cfg.train_dataloader.dataset.subset, cfg.test_dataloader.dataset.subset, classes)
    train = _dataset(cfg.train_dataloader.dataset, tmp_path)
    test = _dataset(cfg.test_dataloader.dataset, tmp_path)
    agnostic = cfg.train_dataloader.dataset.get('class_agnostic', False)
    assert train.metainfo['classes'] == (('action',) if agnostic else tuple(classes))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.update(in_channels=C, num_classes=len(train.metainfo['classes']), embed_dims=16, head_dims=16,
                     num_heads=2)
    if model_cfg.test_cfg.get('external_classifier'):
        model_cfg.test_cfg.external_classifier.path = str(tmp_path / 'clf.json')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = [train[i] for i in range(len(train))]
    data = model.data_preprocessor(dict(inputs=[b['inputs'] for b in batch],
                                        data_samples=[b['data_samples'] for b in batch]), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_reg'} and all(torch.isfinite(v) for v in losses.values())
    optim.update_params(sum(losses.values()))

    model.eval()
    sample = test[0]
    data = model.data_preprocessor(dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']]), False)
    preds = model(**data, mode='predict')
    inst = preds[0].pred_instances
    assert preds[0].video_name == 'c' and inst.segments.shape[1] == 2 and len(inst.segments) <= \
        model_cfg.test_cfg.nms.max_segments * (2 if agnostic else 1)
    assert inst.segments.min() >= 0 and inst.segments.max() <= 30.0
    ev = copy.deepcopy(cfg.test_evaluator)
    ev.ann_file = str(tmp_path / 'gt.json')
    metric = METRICS.build(ev)
    metric.dataset_meta = test.metainfo
    metric.process({}, preds)
    out = metric.compute_metrics(metric.results)
    assert 0 <= out['average_mAP'] <= 1
