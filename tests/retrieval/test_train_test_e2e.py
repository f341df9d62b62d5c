"""End to end: tools/train.py on the toy retrieval config (small variant, generates its data), then tools/test.py on
the checkpoint reproduces the last validation numbers, then tools/demo/search_videos.py (cache reused on a rerun)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'configs/retrieval/toy/umt-s2-vit-tiny-p8-bert-tiny_scratch_1xb16-u4-30e_toy-retrieval.py'

pytestmark = pytest.mark.slow


def run(args, cwd):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=1800,
                          env=env)


def values(log, mode):
    return re.findall(rf'Epoch\({mode}\).*?retrieval/t2v_r1: ([0-9.]+).*?retrieval/t2v_r1_itc: ([0-9.]+)', log)


def test_train_test_and_search(tmp_path):
    toy = dict(root=str(tmp_path / 'toy'), num_train=32, num_val=8, num_frames=8, size=32, fps=8, seed=0)
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(f"""
_base_ = [{str(CONFIG)!r}]
train_dataloader = dict(batch_size=8, dataset=dict(toy={toy!r}, ann_file='{toy['root']}/train.json',
                                                   data_prefix=dict(video='{toy['root']}')))
val_dataloader = dict(batch_size=4, dataset=dict(toy={toy!r}, ann_file='{toy['root']}/val.json',
                                                 data_prefix=dict(video='{toy['root']}')))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=2, save_best=None), logger=dict(interval=1))
""")
    train = run([ROOT / 'tools/train.py', cfg, '--work-dir', tmp_path / 'w'], tmp_path)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    val = values(train.stdout + train.stderr, 'val')
    assert len(val) == 1
    test = run([ROOT / 'tools/test.py', cfg, tmp_path / 'w/epoch_2.pth', '--work-dir', tmp_path / 'wt'], tmp_path)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    assert values(test.stdout + test.stderr, 'test') == val
    args = [ROOT / 'tools/demo/search_videos.py', 'a big red disc moves left', tmp_path / 'toy/videos/val', cfg,
            tmp_path / 'w/epoch_2.pth', '--out-png', tmp_path / 'sheet.png']
    first = run(args, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert '8 videos (0 embeddings from the cache' in first.stdout and (tmp_path / 'sheet.png').is_file()
    assert len(re.findall(r'^\d\. ITM', first.stdout, re.M)) == 5
    second = run(args, tmp_path)
    assert '8 videos (8 embeddings from the cache' in second.stdout
    assert second.stdout.splitlines()[1:6] == first.stdout.splitlines()[1:6]
