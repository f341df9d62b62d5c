"""Every QA / MC config: the reference recipe it states, and one train step + one test step (its own datasets,
pipelines, optimizer and evaluator) at tiny size on the toy QA data; plus the slow end-to-end run of
tools/train.py and tools/test.py on the toy QA config."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import tasks  # noqa: F401
from backbones.registry import DATASETS, METRICS, MODELS
from tasks.toy_data.qa import ensure_qa, toy_qa_files

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / 'configs/qa').glob('*/*.py'))
TOY = dict(num_train=4, num_val=2, num_frames=8, size=32, fps=8, seed=0)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('qa_cfg') / 'toy'
    ensure_qa(root, progress=False, **TOY)
    return dict(root=str(root), **TOY)


def test_there_are_b_and_l_configs_for_every_dataset_and_toy_ones():
    names = {p.name for p in CONFIGS}
    for data in ('msrvtt-qa', 'anet-qa', 'msvd-qa', 'msrvtt-mc'):
        assert {m for m in ('vit-b-p16', 'vit-l-p16') if any(n.startswith(m) and n.endswith(f'_{data}.py')
                                                             for n in names)} == {'vit-b-p16', 'vit-l-p16'}, data
    assert any(n.endswith('_toy-qa.py') for n in names) and any(n.endswith('_toy-mc.py') for n in names)


# official exp/finetuning/{qa,mc}_*/{b16,l16}_25m.py: (lr, epochs, drop path)
RECIPES = {('vit-b', 'msrvtt-qa'): (2e-5, 8, .2), ('vit-l', 'msrvtt-qa'): (4e-5, 5, .4),
           ('vit-b', 'anet-qa'): (4e-5, 12, .2), ('vit-l', 'anet-qa'): (4e-5, 10, .3),
           ('vit-b', 'msvd-qa'): (6e-5, 6, .2), ('vit-l', 'msvd-qa'): (6e-5, 6, .4),
           ('vit-b', 'msrvtt-mc'): (8e-5, 3, .2), ('vit-l', 'msrvtt-mc'): (4e-5, 5, .3)}


@pytest.mark.parametrize('path', [p for p in CONFIGS if p.parent.name == 'umt'], ids=lambda p: p.stem)
def test_config_states_the_reference_recipe(path):
    cfg = Config.fromfile(str(path))
    size, data = path.stem[:5], path.stem.split('_')[-1]
    lr, epochs, dp = RECIPES[(size, data)]
    m, opt = cfg.model, cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, tuple(opt.betas), opt.weight_decay) == ('AdamW', lr, (0.9, 0.999), 0.02)
    assert cfg.train_cfg.max_epochs == epochs and m.vision.drop_path_rate == dp
    large = size == 'vit-l'
    assert m.vision.arch == ('umt2-large' if large else 'umt2-base') and m.vision.num_frames == 12
    assert m.text.arch == ('bert-large' if large else 'bert-base')
    assert cfg.train_dataloader.batch_size == 32 and m.init_cfg.checkpoint.endswith(('l16_25m.pth' if large else
                                                                                      'b16_25m.pth'))
    sample = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'UniformSample'][0]
    assert sample.clip_len == 12
    crop = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomResizedCrop'][0]
    assert tuple(crop.area_range) == (0.5, 1.0)
    warm = [s for s in cfg.param_scheduler if s.type == 'LinearLR']
    cos = [s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR'][0]
    assert cos.eta_min_ratio == 0.01
    if data == 'msrvtt-mc':
        assert m.type == 'UMTMultipleChoice' and not warm and dict(m.loss_weights) == dict(vtc=1., vtm=1., mlm=0.,
                                                                                               align=0.)
        assert cfg.train_dataloader.dataset.type == 'RetrievalDataset'
        assert cfg.test_evaluator.type == 'MCAccuracy' and m.embed_dim == (768 if large else 512)
    else:
        assert m.type == 'UMTQA' and warm[0].end == 1
        assert (m.tokenizer.max_length, m.max_answer_len, m.k_test) == (25, 5, 128)
        assert m.answer_list == cfg.test_dataloader.dataset.answer_list
        assert cfg.test_evaluator.type == 'QAAccuracy'


def tiny(cfg, toy):
    """Shrink the model and the clips (2 frames of 32 px), point every file at the toy data; keep the pipelines'
    transforms, the optimizer and the evaluator."""
    files = toy_qa_files(toy['root'])
    m = cfg.model
    for loader in (cfg.train_dataloader, cfg.test_dataloader):  # same transforms, 2 frames of 32 px
        for t in loader.dataset.pipeline:
            if t.type == 'Resize':
                t.scale = (32, 32)
            elif t.type == 'UniformSample':
                t.clip_len = 2
    m.vision = dict(img_size=32, patch_size=16, num_frames=2, tubelet_size=1, embed_dim=32, depth=1, num_heads=2)
    m.text = dict(vocab_size=64, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=32, fusion_layer=2)
    m.tokenizer.path = files['vocab']
    m.init_cfg = None
    if 'toy' in m:
        m.toy = toy
    if m.type.endswith('UMTQA'):
        m.answer_list = files['answer_list']
    else:
        m.embed_dim = 16
    mc = m.type.endswith('MultipleChoice')
    train_ann = files['captions_train'] if mc else files['train_ann']
    test_ann = files['mc_ann'] if mc else files['val_ann']
    for loader, ann in ((cfg.train_dataloader, train_ann), (cfg.test_dataloader, test_ann)):
        ds = loader.dataset
        ds.ann_file, ds.data_prefix = ann, dict(video=files['videos'])
        if 'toy' in ds:
            ds.toy = toy
        if 'answer_list' in ds:
            ds.answer_list = files['answer_list']
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_one_train_and_one_test_step(path, toy):
    init_default_scope('videofm')
    torch.manual_seed(0)
    cfg = tiny(Config.fromfile(str(path)), toy)
    model = MODELS.build(cfg.model)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    data = model.data_preprocessor(pseudo_collate([train[i] for i in range(2)]), True)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {k: v.clone() for k, v in model.named_parameters()}
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values()), losses
    optim.update_params(sum(losses.values()))
    assert any(not torch.equal(before[k], v) for k, v in model.named_parameters())
    model.eval()
    test = DATASETS.build(cfg.test_dataloader.dataset)
    metric = METRICS.build(cfg.test_evaluator)
    with torch.no_grad():
        out = model.test_step(pseudo_collate([test[i] for i in range(2)]))
    metric.process({}, [o.to_dict() for o in out])
    res = metric.compute_metrics(metric.results)
    assert 0 <= res['acc'] <= 100 and res['num_questions'] == 2


@pytest.mark.slow
def test_toy_qa_train_and_test_end_to_end(tmp_path):
    """tools/train.py then tools/test.py on the toy QA config (tiny data, two epochs); the test run prints the same
    accuracy as the last validation and dumps every prediction."""
    cfg = 'configs/qa/toy/vit-tiny-p8_scratch_1xb16-u4-40e_toy-qa.py'
    toy = [f'{k}={v}' for k, v in dict(root=str(tmp_path / 'toy'), num_train=8, num_val=4).items()]
    opts = ['--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',  # warmup: 1 epoch
            'default_hooks.checkpoint.interval=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False',
            *[f'model.toy.{t}' for t in toy],
            *[f'{d}_dataloader.dataset.toy.{t}' for d in ('train', 'val', 'test') for t in toy],
            f'model.tokenizer.path={tmp_path}/toy/vocab.txt', f'model.answer_list={tmp_path}/toy/answer_list.json']
    for split, ann in (('train', 'qa_train'), ('val', 'qa_val'), ('test', 'qa_val')):
        opts += [f'{split}_dataloader.dataset.ann_file={tmp_path}/toy/{ann}.json',
                 f'{split}_dataloader.dataset.answer_list={tmp_path}/toy/answer_list.json',
                 f'{split}_dataloader.dataset.data_prefix.video={tmp_path}/toy/videos']
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    work = tmp_path / 'work'
    run = subprocess.run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work), *opts], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    val_acc = re.findall(r'qa/acc: ([0-9.]+)', run.stdout + run.stderr)
    assert val_acc, run.stdout[-3000:]
    ckpt = work / 'epoch_2.pth'
    assert ckpt.is_file()
    dump = tmp_path / 'preds.json'
    run = subprocess.run([sys.executable, 'tools/test.py', cfg, str(ckpt), '--work-dir', str(work), *opts,
                          f'test_evaluator.out_file={dump}'], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.findall(r'qa/acc: ([0-9.]+)', run.stdout + run.stderr) == val_acc[-1:]
    rows = json.loads(dump.read_text())
    assert len(rows) == 8 and {'question_id', 'answer', 'pred_answer', 'correct', 'top'} <= set(rows[0])
