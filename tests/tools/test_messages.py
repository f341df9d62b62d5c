"""Messages that name their file or key (issue 13, item 5): a list file with non-UTF-8 bytes, an empty list file,
a cut checkpoint, a misspelled --cfg-options key, num_workers=0 with persistent_workers=True, and the
launchers printing the project's own errors on one line (exit 2) instead of a traceback."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / 'tools'):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import _bootstrap  # noqa: E402
from backbones.checkpoint import DamagedCheckpointError, load_checkpoint_file  # noqa: E402
from tasks.datasets import AnnotationError, RawframeListDataset, VideoListDataset  # noqa: E402
from tasks.engine.config_check import ConfigError, check_config  # noqa: E402

TOY_CONFIG = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'


def test_non_utf8_list_file_names_file_line_and_byte(tmp_path):
    init_default_scope('videofm')
    ann = tmp_path / 'list.txt'
    ann.write_bytes(b'a.mp4 0\nb\xe9b\xe9.mp4 1\n')  # latin-1 accents
    for cls in (VideoListDataset, RawframeListDataset):
        with pytest.raises(AnnotationError, match=rf'{ann} line 2: not UTF-8 text \(byte 0xe9 at column 2\)'):
            cls(ann_file=str(ann), pipeline=[])


@pytest.mark.parametrize('text', ['', '\n  \n'])
def test_empty_list_file_names_the_file(tmp_path, text):
    init_default_scope('videofm')
    ann = tmp_path / 'empty.txt'
    ann.write_text(text)
    for on_error in (None, 'skip'):
        with pytest.raises(AnnotationError, match=rf'{ann}: no rows \(the file is empty or blank\)'):
            VideoListDataset(ann_file=str(ann), pipeline=[], on_error=on_error)


def test_cut_checkpoints_name_the_file(tmp_path):
    full = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.randn(200, 100)}}, full)
    half = tmp_path / 'epoch_3.pth'
    half.write_bytes(full.read_bytes()[:full.stat().st_size // 2])
    with pytest.raises(DamagedCheckpointError, match=rf'cannot read {half} \(\d+ bytes\): the file is truncated'):
        load_checkpoint_file(half)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(DamagedCheckpointError, match=rf'cannot read {empty} \(0 bytes\)'):
        load_checkpoint_file(empty)
    bad = tmp_path / 'cut.safetensors'
    bad.write_bytes(b'\x10\x00')
    with pytest.raises(DamagedCheckpointError, match=rf'cannot read {bad} \(2 bytes\): truncated'):
        load_checkpoint_file(bad)


def test_pickle_refusal_does_not_suggest_running_the_payload(tmp_path):
    from backbones.checkpoint import UnsafeCheckpointError
    path = tmp_path / 'pickled.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'cfg': argparse.ArgumentParser}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(path)
    advice = str(err.value).split('torch said:')[0]
    assert 'weights_only=False' not in advice and 'would run code from the file' in advice
    assert 'torch.save(model.state_dict(), DST)' in advice


def test_misspelled_cfg_option_keys_name_the_key_with_a_suggestion():
    import tasks  # noqa: F401
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.merge_from_dict({'train_dataloader.batchsize': 4, 'model.backbone.embed_dims': 8})
    with pytest.raises(ConfigError) as err:
        check_config(cfg, check_paths=False)
    assert ("train_dataloader.batchsize: unknown key: DataLoader takes no argument 'batchsize' (did you mean "
            "'batch_size'?)") in str(err.value)
    assert "model.backbone.embed_dims: unknown key: VideoViT takes no argument 'embed_dims' (did you mean " \
           "'embed_dim'?)" in str(err.value)


def test_shipped_configs_have_no_unknown_keys():
    import tasks  # noqa: F401
    configs = [p for p in sorted((ROOT / 'configs').rglob('*.py')) if '_base_' not in p.parts]
    checked = 0
    for path in configs:
        cfg = Config.fromfile(path)
        if cfg.get('default_scope') == 'videofm':
            check_config(cfg, check_paths=False)
            checked += 1
    assert checked >= 10


def test_persistent_workers_without_workers_is_fixed_up(capsys):
    args = argparse.Namespace(config=str(TOY_CONFIG), local_rank=0, work_dir=None, launcher='none',
                              cfg_options={'train_dataloader.num_workers': 0})
    cfg = _bootstrap.load_config(args)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True  # num_workers 1 there
    assert 'train_dataloader.persistent_workers: set to False because train_dataloader.num_workers is 0' \
        in capsys.readouterr().err


def test_run_main_prints_user_errors_on_one_line(capsys):
    def main(argv):
        raise AnnotationError('list.txt line 4: label -1 is negative')

    with pytest.raises(SystemExit) as code:
        _bootstrap.run_main(main)
    assert code.value.code == 2
    assert capsys.readouterr().err == 'error: list.txt line 4: label -1 is negative\n'
    worker = AnnotationError('Caught AnnotationError in DataLoader worker process 0.\nOriginal Traceback (most '
                             'recent call last):\n  File "x.py", line 1\ntasks.datasets.annotations.AnnotationError: '
                             'list.txt line 4: bad\n')
    assert _bootstrap.one_line(worker) == 'list.txt line 4: bad'

    def bug(argv):
        raise KeyError('not a user error')

    with pytest.raises(KeyError):
        _bootstrap.run_main(bug)


@pytest.mark.slow
def test_train_tool_prints_an_annotation_error_without_traceback(tmp_path):
    ann = tmp_path / 'list.txt'
    ann.write_bytes(b'a.mp4 0\n\xff.mp4 1\n')
    cfg = tmp_path / 'bad_list.py'
    cfg.write_text(f'_base_ = [{str(TOY_CONFIG)!r}]\n'
                   f"train_dataloader = dict(num_workers=0, dataset=dict(_delete_=True, type='VideoListDataset', "
                   f"ann_file={str(ann)!r}, pipeline={{{{_base_.train_pipeline}}}}))\n")
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    out = subprocess.run([sys.executable, ROOT / 'tools/train.py', cfg, '--work-dir', tmp_path / 'work',
                          '--no-validate'], cwd=tmp_path, capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 2, out.stderr[-3000:]
    assert 'Traceback' not in out.stderr, out.stderr[-3000:]
    assert out.stderr.strip().splitlines()[-1] == f'error: {ann} line 2: not UTF-8 text (byte 0xff at column 1); ' \
        'save the list as UTF-8', out.stderr[-3000:]
