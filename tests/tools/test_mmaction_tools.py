"""The plugin path: mmaction2's own tools/train.py and tools/test.py (from its wheel) run VideoFM's configs as
they are (runner_type is scope-qualified, custom_imports imports VideoFM), one config per task, at tiny size.
The data are the configs' own toy sets, generated in the working directory, shrunk with --cfg-options."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIM_TOOLS = Path(__import__('mmaction').__file__).parent / '.mim/tools'
RECOGNITION = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
AVA = ROOT / 'configs/ava/toy/vit-tiny-p8_scratch_1xb8-8x2x1-12e_toy-ava.py'
VMAEV2 = ROOT / 'configs/pretrain/videomaev2/vmaev2-vit-tiny-p8_scratch_1xb16-8x2x1-4e_toy-motion.py'
UMT = ROOT / 'configs/pretrain/umt/umt-vit-tiny-p8_random-clip-teacher_1xb16-8x2x1-4e_toy-motion.py'

pytestmark = pytest.mark.slow


def mmaction_tool(tool, *args, cwd):
    """mmaction2's tool in a fresh interpreter, without this checkout on PYTHONPATH: VideoFM is found as the
    installed package (pip install -e .), as a user of the plugin path has it."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['OMP_NUM_THREADS'] = '1'
    return subprocess.run([sys.executable, str(MIM_TOOLS / tool), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=1800, env=env)


def shrink(loaders, **toy):
    options = ['train_cfg.max_epochs=1']
    for loader in loaders:
        options += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
        options += [f'{loader}.dataset.toy.{k}={v}' for k, v in toy.items()]
    return options


RECOGNITION_OPTIONS = shrink(('train_dataloader', 'val_dataloader', 'test_dataloader'), num_train=32, num_val=16)
PRETRAIN_OPTIONS = shrink(('train_dataloader',), num_train=32, num_val=16)
AVA_OPTIONS = shrink(('train_dataloader', 'val_dataloader', 'test_dataloader'), num_train=2, num_val=1, seconds=5,
                     height=48, width=64) + [f'{loader}.dataset.timestamp_end=905' for loader in
                                             ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def _train_then_test(tmp_path, config, options, metric):
    out = mmaction_tool('train.py', config, '--work-dir', tmp_path / 'work', '--cfg-options', *options,
                        cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'VideoFMRunner' in out.stdout + out.stderr
    ckpt = tmp_path / 'work/epoch_1.pth'
    assert ckpt.is_file()
    if metric is None:
        return ckpt
    out = mmaction_tool('test.py', config, ckpt, '--work-dir', tmp_path / 'test', '--cfg-options', *options,
                        cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(rf'Epoch\(test\).*{re.escape(metric)}: [0-9.]+', out.stdout + out.stderr), out.stdout[-3000:]
    return ckpt


def test_recognition_config_under_mmaction_tools(tmp_path):
    _train_then_test(tmp_path, RECOGNITION, RECOGNITION_OPTIONS + ['model.backbone.depth=1'], 'acc/top1')


def test_ava_config_under_mmaction_tools(tmp_path):
    _train_then_test(tmp_path, AVA, AVA_OPTIONS + ['model.backbone.depth=1'], 'ava/mAP')


def test_videomaev2_pretraining_config_under_mmaction_tools_then_fine_tuning(tmp_path):
    """Pretraining configs have no test loop; their checkpoint is then fine-tuned (load_from) by the
    recognition config, also under mmaction2's train.py: the encoder is converted, the head starts afresh."""
    ckpt = _train_then_test(tmp_path, VMAEV2, PRETRAIN_OPTIONS + ['model.encoder.depth=1'], None)
    out = mmaction_tool('train.py', RECOGNITION, '--work-dir', tmp_path / 'ft', '--cfg-options',
                        *RECOGNITION_OPTIONS, 'model.backbone.depth=1', f'load_from={ckpt}', cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'videomaev2-pretrain' in out.stdout + out.stderr  # converted, not loaded as is (nothing would match)


def test_umt_pretraining_config_under_mmaction_tools(tmp_path):
    _train_then_test(tmp_path, UMT, PRETRAIN_OPTIONS, None)


TAD = ROOT / 'configs/tad/toy/actionformer-tiny_scratch_1xb4-16x4x1-30e_toy-tad.py'
# two epochs, one of warmup (the cosine must start before training ends), a checkpoint every epoch
TAD_OPTIONS = shrink(('train_dataloader', 'val_dataloader', 'test_dataloader'), num_train=6, num_val=3,
                     min_seconds=12, max_seconds=14) + [
    'train_cfg.max_epochs=2', 'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
    'default_hooks.checkpoint.interval=1']


def test_tad_config_under_mmaction_tools(tmp_path):
    _train_then_test(tmp_path, TAD, TAD_OPTIONS, 'tad/average_mAP')
