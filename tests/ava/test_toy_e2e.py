"""Toy AVA data (generator + make_toy.py ava) and the toy config end to end: tools/train.py -> tools/test.py ->
tools/demo/detect_actions.py, at tiny size in subprocesses."""
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks.ava.toy import ensure_ava, toy_ava_files

ROOT = Path(__file__).resolve().parents[2]
TOY_CONFIG = ROOT / 'configs/ava/toy/vit-tiny-p8_scratch_1xb8-8x2x1-12e_toy-ava.py'
TOY = dict(num_train=2, num_val=1, seconds=5, height=48, width=64, seed=0)


def run(args, cwd, timeout=1800):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow
def test_make_toy_ava_writes_real_formats_deterministically(tmp_path):
    out = run([ROOT / 'tools/data/make_toy.py', 'ava', '--out', tmp_path / 'a', '--quiet',
               *[f'--{k.replace("_", "-")}={v}' for k, v in TOY.items()]], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    f = toy_ava_files(tmp_path / 'a')
    assert len(list(Path(f['frames'], 'train000').glob('img_*.jpg'))) == 5 * 30
    rows = Path(f['val_ann']).read_text().splitlines()
    assert all(len(r.split(',')) == 8 for r in rows) and {r.split(',')[1] for r in rows} == {'0902', '0903'}
    assert Path(f['val_exclude']).read_text() == 'val000,0903\n'
    with open(f['train_proposals'], 'rb') as fh:
        props = pickle.load(fh)
    assert set(props) == {'train000,0902', 'train000,0903', 'train001,0902', 'train001,0903'}
    assert all(p.shape[1] == 5 and p.min() >= 0 and p.max() <= 1 for p in props.values())
    assert 'id: 69' in Path(f['label_file']).read_text()
    again = ensure_ava(tmp_path / 'b', progress=False, **TOY)  # same parameters -> identical annotations
    assert Path(toy_ava_files(again)['train_ann']).read_text() == Path(f['train_ann']).read_text()
    a = np.fromfile(Path(f['frames'], 'val000', 'img_00042.jpg'), np.uint8)
    b = np.fromfile(Path(toy_ava_files(again)['frames'], 'val000', 'img_00042.jpg'), np.uint8)
    assert np.array_equal(a, b)


def tiny_config(tmp_path, root):
    f = toy_ava_files(root)
    ds = lambda split, **kw: dict(  # noqa: E731
        toy=dict(root=str(root), **TOY), ann_file=f[f'{split}_ann'], exclude_file=f[f'{split}_exclude'],
        label_file=f['label_file'], proposal_file=f[f'{split}_proposals'], data_prefix=dict(img=f['frames']),
        timestamp_end=900 + TOY['seconds'], **kw)
    from mmengine.config import Config
    base = Config.fromfile(TOY_CONFIG)
    train_pipeline, val_pipeline = [dict(t) for t in base.train_pipeline], [dict(t) for t in base.val_pipeline]
    train_pipeline[2] = dict(type='RandomRescale', scale_range=(32, 40))
    train_pipeline[3] = dict(type='RandomCrop', size=32)
    val_pipeline[2] = dict(type='Resize', scale=(-1, 32))
    text = f"""
_base_ = [{str(TOY_CONFIG)!r}]
model = dict(backbone=dict(img_size=32, depth=1, embed_dim=32, num_heads=2, drop_path_rate=0.0))
train_pipeline = {train_pipeline!r}
val_pipeline = {val_pipeline!r}
test_pipeline = val_pipeline
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict({ds('train')!r}, pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict({ds('val')!r}, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file={f['val_ann']!r}, exclude_file={f['val_exclude']!r}, label_file={f['label_file']!r})
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0)]
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
"""
    path = tmp_path / 'tiny_ava.py'
    path.write_text(text)
    return path


@pytest.mark.slow
def test_toy_config_trains_tests_and_demo_draws(tmp_path):
    root = tmp_path / 'toy_ava'  # created by ToyAVADataset on first use
    cfg = tiny_config(tmp_path, root)
    out = run([ROOT / 'tools/train.py', cfg, '--work-dir', tmp_path / 'work'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    val = [float(x) for x in re.findall(r'Epoch\(val\).*?ava/mAP: ([0-9.]+)', log)]
    assert len(val) == 1, log[-3000:]
    assert (root / 'toy_meta.json').is_file()
    ckpt = tmp_path / 'work/epoch_1.pth'
    out = run([ROOT / 'tools/test.py', cfg, ckpt, '--work-dir', tmp_path / 'test'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    test = [float(x) for x in re.findall(r'Epoch\(test\).*?ava/mAP: ([0-9.]+)', out.stdout + out.stderr)]
    assert test == val
    f = toy_ava_files(root)
    out = run([ROOT / 'tools/demo/detect_actions.py', Path(f['frames']) / 'val000', cfg, ckpt, '--proposals',
               f['val_proposals'], '--out', tmp_path / 'demo', '--thr', '0'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(list((tmp_path / 'demo').glob('img_*.jpg'))) == 5 * 30

    # the same clip as a video file in, an annotated video out
    import cv2
    frames = sorted((Path(f['frames']) / 'val000').glob('img_*.jpg'))
    first = cv2.imread(str(frames[0]))
    video = tmp_path / 'val000.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 30, first.shape[1::-1])
    for frame in frames:
        writer.write(cv2.imread(str(frame)))
    writer.release()
    out = run([ROOT / 'tools/demo/detect_actions.py', video, cfg, ckpt, '--proposals', f['val_proposals'],
               '--out', tmp_path / 'demo.mp4', '--thr', '0'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    drawn = cv2.VideoCapture(str(tmp_path / 'demo.mp4'))
    assert int(drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames)
