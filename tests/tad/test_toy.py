"""Toy TAD data (generator, make_toy.py tad) and the toy config end to end: tools/train.py -> tools/test.py on CPU,
val mAP well above chance and reproduced by the test run."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks.tad import FeatureGrid
from tasks.toy_data.cache import ToyDataMismatch
from tasks.toy_data.tad import TAD_CLASSES, ensure_tad, toy_tad_files

ROOT = Path(__file__).resolve().parents[2]
TOY_CONFIG = ROOT / 'configs/tad/toy/actionformer-tiny_scratch_1xb4-16x4x1-30e_toy-tad.py'
SMALL = dict(num_train=2, num_val=1, min_seconds=10, max_seconds=12, fps=8, size=32, seed=0)


def run(args, cwd, timeout=1800):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '2'}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_toy_tad_real_formats_deterministic_and_cached(tmp_path):
    root = ensure_tad(tmp_path / 'a', progress=False, **SMALL)
    f = toy_tad_files(root)
    db = json.loads(Path(f['ann_file']).read_text())['database']
    assert sorted(db) == ['train_0000', 'train_0001', 'val_0000']
    assert [db[v]['subset'] for v in sorted(db)] == ['training', 'training', 'validation']
    grid = FeatureGrid.from_dict(json.loads(Path(f['feat_root'], 'features.json').read_text()))
    assert grid == FeatureGrid(fps=8, stride=4, clip_len=16, offset=8)
    import decord
    for vid, v in db.items():
        assert 10 <= v['duration'] <= 12 and v['fps'] == 8 and 1 <= len(v['annotations']) <= 4
        segs = sorted(a['segment'] for a in v['annotations'])
        assert all(0 < s < e <= v['duration'] for s, e in segs)
        assert all(a['label'] in TAD_CLASSES for a in v['annotations'])
        assert all(e1 < s2 for (_, e1), (s2, _) in zip(segs, segs[1:]))  # no overlap
        frames = len(decord.VideoReader(str(Path(f['videos'], f'{vid}.mp4'))))
        assert frames == v['duration'] * 8
        feats = np.load(Path(f['feat_root'], f'{vid}.npy'))
        assert feats.shape == (grid.num_features(frames), 64) and feats.dtype == np.float32
    assert Path(f['classes']).read_text().split() == list(TAD_CLASSES)
    again = ensure_tad(tmp_path / 'b', progress=False, **SMALL)
    assert Path(toy_tad_files(again)['ann_file']).read_text() == Path(f['ann_file']).read_text()
    np.testing.assert_array_equal(np.load(Path(toy_tad_files(again)['feat_root'], 'val_0000.npy')),
                                  np.load(Path(f['feat_root'], 'val_0000.npy')))
    assert ensure_tad(root, progress=False, **SMALL) == root  # reused
    with pytest.raises(ToyDataMismatch, match='different parameters'):
        ensure_tad(root, progress=False, **{**SMALL, 'fps': 10})
    with pytest.raises(TypeError, match='unknown toy TAD parameter'):
        ensure_tad(root, progress=False, classes=3)


@pytest.mark.slow
def test_make_toy_tad_cli(tmp_path):
    args = [f'--{k.replace("_", "-")}={v}' for k, v in SMALL.items()]
    out = run([ROOT / 'tools/data/make_toy.py', 'tad', '--out', tmp_path / 'toy', '--quiet', *args], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'seconds = (4 * i + 8) / 8' in out.stdout and (tmp_path / 'toy/toy_meta.json').is_file()


@pytest.mark.slow
def test_extract_features_reproduces_toy_features_and_dataset_reads_them(tmp_path):
    """tools/extract_features.py with the toy backbone checkpoint gives the toy features; a dataset reads its
    output (features.json without a top-level fps: per-video fps from its videos table)."""
    root = ensure_tad(tmp_path / 'toy', progress=False, **SMALL)
    f = toy_tad_files(root)
    out = run([ROOT / 'tools/extract_features.py',
               ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py',
               root / 'backbone.pth', '--video-root', f['videos'], '--out', tmp_path / 'ext', '--mode', 'normalized',
               '--workers', '0', '--device', 'cpu', '--quiet', '--cfg-options', 'model.backbone.embed_dim=64',
               'model.backbone.depth=2', 'model.backbone.num_frames=16', 'model.backbone.drop_path_rate=0'],
              cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    for vid in ('train_0000', 'train_0001', 'val_0000'):
        np.testing.assert_allclose(np.load(tmp_path / 'ext' / f'{vid}.npy'), np.load(Path(f['feat_root'],
                                                                                         f'{vid}.npy')), atol=1e-5)
    db = json.loads(Path(f['ann_file']).read_text())
    for v in db['database'].values():
        v.pop('fps')
    (tmp_path / 'nofps.json').write_text(json.dumps(db))
    from mmengine.registry import init_default_scope

    from tasks.tad import TADFeatureDataset
    init_default_scope('videofm')
    ds = TADFeatureDataset(ann_file=str(tmp_path / 'nofps.json'), feat_root=str(tmp_path / 'ext'),
                           subset='validation', train_subset='training', feat_dim=64, test_mode=True,
                           pipeline=[dict(type='PackTADInputs')])
    assert ds[0]['data_samples'].feat_grid == FeatureGrid(fps=8, stride=4, clip_len=16)


def _mAPs(text, mode):
    return [float(x) for x in re.findall(rf'Epoch\({mode}\).*?tad/average_mAP: ([0-9.]+)', text)]


@pytest.mark.slow
def test_toy_config_trains_and_test_reproduces_val_map(tmp_path):
    """The toy workflow on CPU: generate, train 30 epochs, validate, test the checkpoint."""
    root = tmp_path / 'toy_tad'
    cfg = tmp_path / 'toy_tad.py'
    ds = dict(toy=dict(root=str(root)), ann_file=f'{root}/annotations.json', feat_root=f'{root}/features')
    cfg.write_text(f"""
_base_ = [{str(TOY_CONFIG)!r}]
train_dataloader = dict(dataset={ds!r})
val_dataloader = dict(dataset={ds!r})
test_dataloader = val_dataloader
val_evaluator = dict(ann_file={ds['ann_file']!r})
test_evaluator = val_evaluator
""")
    out = run([ROOT / 'tools/train.py', cfg, '--work-dir', tmp_path / 'work'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    val = _mAPs(out.stdout + out.stderr, 'val')
    assert len(val) == 6, (out.stdout + out.stderr)[-3000:]
    assert val[-1] > 0.7, val  # chance (random segments) is ~0.01
    out = run([ROOT / 'tools/test.py', cfg, tmp_path / 'work/epoch_30.pth', '--work-dir', tmp_path / 'test'],
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert _mAPs(out.stdout + out.stderr, 'test') == [val[-1]]
