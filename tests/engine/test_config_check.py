"""Config mistakes name the config key that holds them (tasks/engine/config_check.py, used by the tools)."""
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

import tasks  # noqa: F401
from tasks.engine.config_check import ConfigError, check_config

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / 'configs/recognition/videomaev2/vit-b-p16_vmaev2-pre_8xb8-16x4x1-90e_kinetics400.py'
TOY = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'


def test_unknown_type_names_the_key_and_suggests_the_closest_name():
    cfg = Config.fromfile(str(REAL))
    cfg.model.backbone.type = 'VideoVit'
    cfg.train_dataloader.dataset.pipeline[1].type = 'SampleFrame'
    with pytest.raises(ConfigError) as err:
        check_config(cfg, check_paths=False)
    text = str(err.value)
    assert "model.backbone.type: unknown type 'VideoVit' (did you mean 'VideoViT'?)" in text
    assert "train_dataloader.dataset.pipeline[1].type: unknown type 'SampleFrame' (did you mean 'SampleFrames'?)" \
        in text


def test_missing_annotation_file_names_the_key(tmp_path):
    cfg = Config.fromfile(str(REAL))
    cfg.train_dataloader.dataset.ann_file = str(tmp_path / 'train_list.txt')
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset\.ann_file: .*train_list\.txt does not exist'):
        check_config(cfg, data_sections=('train_dataloader',))
    (tmp_path / 'train_list.txt').write_text('')
    check_config(cfg, data_sections=('train_dataloader',))  # the val/test files are not asked for


@pytest.mark.parametrize('config', sorted(p.relative_to(ROOT) for p in ROOT.glob('configs/*/*/*.py')
                                           if p.parts[-3] != '_base_'), ids=str)
def test_every_config_uses_known_types(config):
    check_config(Config.fromfile(str(ROOT / config)), check_paths=False)


def test_toy_datasets_are_not_path_checked():
    check_config(Config.fromfile(str(TOY)))  # the toy data is generated when missing


@pytest.mark.slow
def test_train_tool_reports_the_key(tmp_path):
    out = subprocess.run([sys.executable, ROOT / 'tools/train.py', TOY, '--work-dir', tmp_path, '--cfg-options',
                          'model.cls_head.type=VideoClsHed'], capture_output=True, text=True, timeout=1800)
    assert out.returncode != 0
    assert "model.cls_head.type: unknown type 'VideoClsHed' (did you mean 'VideoClsHead'?)" in out.stderr
