"""tools/test.py and the demos refuse a checkpoint that leaves model weights unloaded (another task, another
architecture, a head of another class count), naming the keys; --allow-partial-load allows it; load_from for
fine-tuning drops a classifier head of another class count and says so."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
RECOGNITION = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
AVA = ROOT / 'configs/ava/toy/vit-tiny-p8_scratch_1xb8-8x2x1-12e_toy-ava.py'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
REC_TOY = dict(num_train=32, num_val=16)
AVA_TOY = dict(num_train=2, num_val=1, seconds=5, height=48, width=64)

pytestmark = pytest.mark.slow


def options(toy, extra=()):
    out = ['train_cfg.max_epochs=1', 'model.backbone.depth=1', *extra]
    for loader in LOADERS:
        out += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
        out += [f'{loader}.dataset.toy.{k}={v}' for k, v in toy.items()]
    return out


REC_OPTIONS = options(REC_TOY)
AVA_OPTIONS = options(AVA_TOY, [f'{loader}.dataset.timestamp_end=905' for loader in LOADERS])


def run(args, cwd):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=1800,
                          env=env)


def _model(config):
    """The config's model at the tiny size the tests run it (depth 1), random weights."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import tasks  # noqa: F401
    from backbones.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.backbone.depth = 1
    with DefaultScope.overwrite_default_scope('videofm'):
        return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    """A working dir with the toy data of both tasks and a Runner checkpoint of each (random weights)."""
    from tasks.ava.toy import ensure_ava
    from tasks.toy_data.recognition import ensure_recognition
    root = tmp_path_factory.mktemp('work')
    ensure_recognition(root / 'data/toy_motion', progress=False, num_classes=4, num_frames=16, size=64, seed=0,
                       **REC_TOY)
    ensure_ava(root / 'data/toy_ava', progress=False, **AVA_TOY)
    for name, config in (('rec', RECOGNITION), ('ava', AVA)):
        torch.save({'meta': {'epoch': 1, 'iter': 1}, 'state_dict': _model(config).state_dict()},
                   root / f'{name}.pth')
    return root


def test_test_tool_refuses_a_checkpoint_of_another_task(work):
    out = run([ROOT / 'tools/test.py', RECOGNITION, work / 'ava.pth', '--work-dir', work / 't1', '--cfg-options',
               *REC_OPTIONS], cwd=work)
    assert out.returncode != 0
    assert 'does not fit Recognizer3D' in out.stderr and 'cls_head.fc_cls.* (2)' in out.stderr, out.stderr[-3000:]
    assert 'Epoch(test)' not in out.stdout + out.stderr
    out = run([ROOT / 'tools/test.py', AVA, work / 'rec.pth', '--work-dir', work / 't2', '--cfg-options',
               *AVA_OPTIONS], cwd=work)
    assert out.returncode != 0
    assert 'does not fit AVADetector' in out.stderr and 'fc_cls.weight, fc_cls.bias' in out.stderr, \
        out.stderr[-3000:]


def test_allow_partial_load_evaluates_and_lists_what_was_not_loaded(work):
    out = run([ROOT / 'tools/test.py', RECOGNITION, work / 'ava.pth', '--work-dir', work / 't3',
               '--allow-partial-load', '--cfg-options', *REC_OPTIONS], cwd=work)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert 'Epoch(test)' in log and 'not in the checkpoint, keep their initialisation' in log


def test_safetensors_with_a_head_of_another_class_count_is_refused(work):
    from safetensors.torch import save_file
    sd = {k: v.contiguous() for k, v in torch.load(work / 'rec.pth', weights_only=True)['state_dict'].items()}
    sd['cls_head.fc_cls.weight'] = torch.zeros(7, sd['cls_head.fc_cls.weight'].shape[1])
    sd['cls_head.fc_cls.bias'] = torch.zeros(7)
    save_file(sd, str(work / 'k7.safetensors'))
    out = run([ROOT / 'tools/test.py', RECOGNITION, work / 'k7.safetensors', '--work-dir', work / 't4',
               '--cfg-options', *REC_OPTIONS], cwd=work)
    assert out.returncode != 0
    assert 'cls_head.fc_cls.bias checkpoint [7] vs model [4]' in out.stderr, out.stderr[-3000:]
    assert 'Epoch(test)' not in out.stdout + out.stderr


def test_ava_demo_refuses_a_recognition_checkpoint(work):
    from tasks.ava.toy import toy_ava_files
    f = toy_ava_files(work / 'data/toy_ava')
    config = work / 'tiny_ava.py'
    config.write_text(f"_base_ = [{str(AVA)!r}]\nmodel = dict(backbone=dict(depth=1))\n")
    args = [ROOT / 'tools/demo/detect_actions.py', Path(f['frames']) / 'val000', config, work / 'rec.pth',
            '--proposals', f['val_proposals'], '--out', work / 'demo']
    out = run(args, cwd=work)
    assert out.returncode != 0
    assert 'fc_cls.weight, fc_cls.bias' in out.stderr, out.stderr[-3000:]
    assert not list((work / 'demo').glob('img_*.jpg'))
    out = run([*args, '--allow-partial-load'], cwd=work)
    assert out.returncode == 0, out.stderr[-3000:]


def test_load_from_for_fine_tuning_drops_a_head_of_another_class_count(work):
    out = run([ROOT / 'tools/train.py', RECOGNITION, '--work-dir', work / 'ft', '--no-validate', '--cfg-options',
               *REC_OPTIONS, 'model.cls_head.num_classes=6', f'load_from={work / "rec.pth"}'], cwd=work)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert 'classifier head not loaded' in log and 'checkpoint [4, 96] vs model [6, 96]' in log, log[-3000:]
