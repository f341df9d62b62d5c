"""Every pretraining config parses and names a registered model; a tiny toy VideoMAE V2 / UMT run through
tools/train.py lowers its loss."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
# UMT stage-2 (video-language) configs are built and stepped in tests/retrieval/test_configs.py
CONFIGS = sorted(p for p in (ROOT / 'configs/pretrain').glob('*/*.py') if not p.name.startswith('umt-s2-'))
TOY = dict(num_train=16, num_val=4, num_classes=4, num_frames=16, size=64, seed=0)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_parses_and_model_builds_tiny(path):
    import tasks  # noqa: F401
    from mmengine.registry import init_default_scope

    from backbones.registry import MODELS
    init_default_scope('videofm')
    cfg = Config.fromfile(str(path))
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and tuple(cfg.optim_wrapper.optimizer.betas) == (0.9, 0.95)
    model = dict(cfg.model)
    enc = dict(model['encoder'])
    if 'toy' not in path.name:  # build every size at tiny depth / resolution
        enc.update(depth=1, img_size=28 if 'p14' in path.name else 32, num_frames=4)
        model['encoder'] = enc
        if 'teacher' in model:
            model['teacher'] = dict(model['teacher'], checkpoint=None, depth=1, img_size=32 // 16 * model['teacher'].get('patch_size', 14) if 'l14' in path.name else 32)
            model['num_align_layers'] = 1
    assert MODELS.build(model) is not None


@pytest.mark.slow
@pytest.mark.parametrize('config', ['videomaev2/vmaev2-vit-tiny-p8_scratch_1xb16-8x2x1-4e_toy-motion.py',
                                    'umt/umt-vit-tiny-p8_random-clip-teacher_1xb16-8x2x1-4e_toy-motion.py'])
def test_toy_pretraining_loss_decreases(tmp_path, config):
    from tasks.toy_data.recognition import ensure_recognition
    root = tmp_path / 'toy'
    ensure_recognition(root, progress=False, **TOY)
    toy = dict(root=str(root), **TOY)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f"""
_base_ = [{str(ROOT / 'configs/pretrain' / config)!r}]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(toy={toy!r}, ann_file='{root}/train_list.txt', data_prefix=dict(video='{root}')))
train_cfg = dict(max_epochs=3)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = []
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=3))
""")
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run([sys.executable, str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(tmp_path / 'w')],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1800, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    losses = [float(x) for x in re.findall(r'Epoch\(train\).*? loss: ([0-9.]+)', proc.stdout + proc.stderr)]
    assert len(losses) == 12, losses
    assert sum(losses[-3:]) < sum(losses[:3]), losses
