"""Every retrieval config and every UMT stage-2 pretraining config: the official recipe it states, and one train step
(its own datasets, pipelines, optimiser) plus one evaluation (its own test pipeline, loop settings and metric) at
tiny size on the toy clips."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from torch.utils.data import DataLoader

from backbones.registry import DATASETS, METRICS, MODELS
from tasks.retrieval import evaluate_retrieval
from tasks.toy_data.retrieval import ensure_retrieval

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / 'configs/retrieval').glob('*/*.py')) + sorted(
    (ROOT / 'configs/pretrain/umt').glob('umt-s2-*.py'))
VOCAB = str(ROOT / 'configs/_base_/datasets/toy_retrieval_vocab.txt')
MODES = {'msrvtt': 'single', 'lsmdc': 'single', 'didemo': 'paragraph', 'anet': 'paragraph', 'msvd': 'multi'}


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    import cv2
    root = ensure_retrieval(tmp_path_factory.mktemp('rt') / 'toy', progress=False, num_train=4, num_val=4)
    for i in range(4):
        cv2.imwrite(str(root / f'im{i}.png'), np.full((24, 24, 3), 60 * i, np.uint8))
    return root


def _frames(pipeline):
    return [t.clip_len for t in pipeline if t.type == 'UniformSample']


def test_every_dataset_and_size_is_covered():
    names = [p.name for p in CONFIGS]
    for key in MODES:
        for size in ('vit-b', 'vit-l'):
            assert any(size in n and key in n and '-test_' in n for n in names), (key, size)
            assert any(size in n and key in n and 'xb32-u12' in n for n in names), (key, size)
    for corpus in ('5m', '25m'):
        assert sum(n.endswith(f'_corpus-{corpus}.py') for n in names) == 2
    assert any(n.endswith('_toy-retrieval.py') for n in names)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_states_the_official_recipe(path):
    cfg = Config.fromfile(str(path))
    m = cfg.model
    assert m.type == 'UMTStage2'
    assert cfg.test_cfg.type == 'RetrievalTestLoop' and cfg.test_cfg.k_test == 128
    assert cfg.test_evaluator.type == 'RetrievalMetric'
    if path.parent.name == 'toy':
        return
    large = 'vit-l' in path.name
    assert m.embed_dim == (768 if large else 512) and m.text.arch == ('bert-large' if large else 'bert-base')
    assert cfg.test_cfg.keep_temporal is True
    test_ds = cfg.test_dataloader.dataset
    if 'corpus' in path.name:  # stage-2 pretraining
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, tuple(opt.betas), opt.weight_decay) == ('AdamW', 1e-4, (0.9, 0.999), 0.02)
        assert cfg.train_dataloader.batch_size == 128 and cfg.train_cfg.max_epochs == 10
        assert cfg.train_dataloader.batch_sampler.type == 'ModalityBatchSampler'
        ds = cfg.train_dataloader.dataset.datasets
        assert [_frames(d.pipeline) for d in ds if 'video' in d.data_prefix] == [[4]]
        assert dict(m.mask_ratio) == dict(video=0.8, image=0.5) and m.mask_type == 'semantic'
        assert dict(m.loss_weights) == dict(vtc=1., vtm=1., mlm=1., align=1.) and m.teacher is not None
        assert len(ds) == (2 if 'corpus-5m' in path.name else 6)
        return
    key = next(k for k in MODES if k in path.name)
    assert test_ds.caption_mode == MODES[key]
    assert m.teacher is None and dict(m.mask_ratio) == dict(video=0., image=0.)
    if '-test_' in path.name:  # zero-shot
        assert _frames(test_ds.pipeline) == [4] and cfg.train_dataloader is None
        return
    assert _frames(test_ds.pipeline) == [12] and _frames(cfg.train_dataloader.dataset.pipeline) == [12]
    assert m.vision.num_frames == 12 and cfg.train_dataloader.batch_size == 32
    assert dict(m.loss_weights) == dict(vtc=1., vtm=1., mlm=0., align=0.)
    opt = cfg.optim_wrapper.optimizer
    assert tuple(opt.betas) == (0.9, 0.999) and opt.weight_decay == 0.02
    expected = {('msrvtt', False): 1e-5, ('msrvtt', True): 2e-5, ('msvd', False): 1e-5, ('msvd', True): 1e-5,
                ('didemo', False): 2e-5, ('didemo', True): 4e-5, ('anet', False): 4e-5, ('anet', True): 4e-5,
                ('lsmdc', False): 2e-5, ('lsmdc', True): 2e-5}
    assert opt.lr == expected[(key, large)]
    assert m.tokenizer.max_length == {'msrvtt': 32, 'didemo': 64, 'anet': 150, 'lsmdc': 96, 'msvd': 64}[key]


def _tiny_model(cfg):
    m = copy.deepcopy(cfg.model)
    m.vision.update(img_size=32, num_frames=4, depth=1, embed_dim=64, num_heads=4, patch_size=16)
    m.vision.pop('drop_path_rate', None)
    m.text = dict(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=160, fusion_layer=1)
    m.tokenizer = dict(path=VOCAB, max_length=m.tokenizer.max_length)
    m.embed_dim, m.init_cfg = 16, None
    if m.get('teacher') is not None:
        m.teacher = dict(type='CLIPTeacher', arch='vit_base_patch16_clip_224', img_size=32, patch_size=16,
                         embed_dim=32, depth=2, num_heads=2, proj_dim=16, checkpoint=None)
        m.num_align_layers = 1
    return MODELS.build(m)


def _small(pipeline):
    out = []
    for t in copy.deepcopy(pipeline):
        if t.type == 'Resize':
            t.scale = (32, 32)
        if t.type == 'UniformSample':
            t.clip_len = 4
        out.append(t)
    return out


def _dataset(ds_cfg, toy, tmp, name):
    ds = copy.deepcopy(ds_cfg)
    if ds.type == 'ToyRetrievalDataset':
        ds.toy = dict(ds.toy, root=str(toy), num_train=4, num_val=4)
        ds.ann_file = str(toy / Path(ds.ann_file).name)
        ds.data_prefix = dict(video=str(toy))
    else:
        image = 'img' in (ds.get('data_prefix') or {})
        mode = ds.caption_mode
        rows = [dict(image=f'im{i}.png', caption=f'a picture {i}') if image else
                dict(video=f'videos/val/{i:05d}.mp4',
                     caption=f'clip {i}' if mode == 'single' else [f'clip {i}', f'more {i}']) for i in range(4)]
        ann = tmp / f'{name}.json'
        ann.write_text(json.dumps(rows))
        ds.ann_file = str(ann)
        ds.data_prefix = dict(img=str(toy)) if image else dict(video=str(toy))
    ds.pipeline = _small(ds.pipeline)
    return DATASETS.build(ds)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_tiny_train_and_test_step(path, toy, tmp_path):
    cfg = Config.fromfile(str(path))
    torch.manual_seed(0)
    model = _tiny_model(cfg)
    if cfg.get('train_dataloader'):
        tds = cfg.train_dataloader.dataset
        parts = tds.datasets if tds.type == 'ConcatDataset' else [tds]
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        for k, part in enumerate(parts[:2]):  # a video and an image corpus of the mixtures
            ds = _dataset(part, toy, tmp_path, f'train{k}')
            batch = pseudo_collate([ds[i] for i in range(min(4, len(ds)))])
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
            names = {f'loss_{n}' for n, w in cfg.model.loss_weights.items() if w > 0}
            assert set(losses) == names and all(torch.isfinite(v) for v in losses.values())
            optim.update_params(sum(losses.values()))
    model.eval()
    test = _dataset(cfg.test_dataloader.dataset, toy, tmp_path, 'test')
    loader = DataLoader(test, batch_size=3, collate_fn=pseudo_collate)
    res = evaluate_retrieval(model, loader, k_test=cfg.test_cfg.k_test, itm_batch_size=5,
                             keep_temporal=cfg.test_cfg.get('keep_temporal', False))
    metric = METRICS.build(cfg.test_evaluator)
    metric.process(None, [res])
    out = metric.evaluate(1)
    assert 0 <= out['retrieval/t2v_r1'] <= 100 and 0 <= out['retrieval/v2t_r1_itc'] <= 100
