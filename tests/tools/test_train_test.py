"""End to end through the launchers: train -> checkpoint -> kill -> --resume -> test, --amp on CPU,
--dump, and mmaction2's own tools/train.py on a stock mmaction2 config via custom_imports."""
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOY_CONFIG = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
MMACTION_TRAIN = Path(__import__('mmaction').__file__).parent / '.mim/tools/train.py'
TOY = dict(num_train=32, num_val=16, num_classes=4, num_frames=16, size=64, seed=0)

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    from tasks.toy_data.recognition import ensure_recognition
    root = tmp_path_factory.mktemp('data') / 'toy'
    ensure_recognition(root, progress=False, **TOY)
    return root


def tiny_config(tmp_path: Path, toy_root: Path, **train_cfg) -> Path:
    """A small variant of the toy config (1-block model, 32 clips) that trains in seconds."""
    toy = dict(root=str(toy_root), **TOY)
    loader = lambda split, **kw: dict(  # noqa: E731
        batch_size=8, num_workers=0, persistent_workers=False,
        dataset=dict(toy=toy, ann_file=f'{toy_root}/{split}_list.txt', data_prefix=dict(video=str(toy_root)), **kw))
    text = f"""
_base_ = [{str(TOY_CONFIG)!r}]
model = dict(backbone=dict(depth=1, drop_path_rate=0.0))
train_dataloader = {loader('train')!r}
val_dataloader = {loader('val')!r}
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={train_cfg.get('max_epochs', 2)}, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1, save_best=None), logger=dict(interval=1))
"""
    path = tmp_path / 'tiny_toy.py'
    path.write_text(text)
    return path


def run(args, cwd, timeout=1800, **kwargs):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def metric(log: str, mode: str, name: str = 'acc/top1') -> list:
    return [float(x) for x in re.findall(rf'Epoch\({mode}\).*?{re.escape(name)}: ([0-9.]+)', log)]


def test_train_kill_resume_test_dump(tmp_path, toy_root):
    cfg = tiny_config(tmp_path, toy_root, max_epochs=4)
    work = tmp_path / 'work'
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    proc = subprocess.Popen([sys.executable, ROOT / 'tools/train.py', cfg, '--work-dir', work], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = work / 'last_checkpoint'
    deadline = time.time() + 1800
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # a crash right after the first checkpoint
    proc.wait()
    killed_at = int(re.search(r'epoch_(\d+)\.pth', last.read_text()).group(1))
    assert killed_at < 4, 'the run finished before it could be killed'

    out = run([ROOT / 'tools/train.py', cfg, '--work-dir', work, '--resume'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert re.search(rf'resumed epoch: {killed_at}, iter: {killed_at * 4}', log), log[-3000:]
    assert (work / 'epoch_4.pth').is_file()
    val = metric(log, 'val')
    assert len(val) == 4 - killed_at

    dump = tmp_path / 'preds.pkl'
    out = run([ROOT / 'tools/test.py', cfg, work / 'epoch_4.pth', '--work-dir', tmp_path / 'test', '--dump', dump,
               '--show-dir', 'vis', '--interval', '8'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    test = metric(out.stdout + out.stderr, 'test')
    assert test == [val[-1]]  # evaluating the saved checkpoint reproduces the last validation
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == TOY['num_val']
    assert preds[0]['pred_score'].shape == (TOY['num_classes'],)
    drawings = sorted(p.name for p in (tmp_path / 'test').rglob('vis/*.png'))
    assert drawings == ['test_000000.png', 'test_000008.png']  # every 8th of the 16 clips


def test_resume_from_explicit_checkpoint(tmp_path, toy_root):
    cfg = tiny_config(tmp_path, toy_root, max_epochs=1)
    work = tmp_path / 'work'
    assert run([ROOT / 'tools/train.py', cfg, '--work-dir', work, '--no-validate'], cwd=tmp_path).returncode == 0
    out = run([ROOT / 'tools/train.py', cfg, '--work-dir', tmp_path / 'work2', '--resume', work / 'epoch_1.pth',
               '--no-validate', '--cfg-options', 'train_cfg.max_epochs=2'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'resumed epoch: 1, iter: 4' in out.stdout + out.stderr
    assert (tmp_path / 'work2/epoch_2.pth').is_file()
    assert len(list((tmp_path / 'work2').glob('*/curves.png'))) == 1  # CurvesHook


def test_amp_on_cpu_uses_bf16_autocast(tmp_path, toy_root):
    cfg = tiny_config(tmp_path, toy_root, max_epochs=1)
    out = run([ROOT / 'tools/train.py', cfg, '--work-dir', tmp_path / 'work', '--amp', '--no-validate'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'bfloat16 autocast on the CPU' in out.stdout
    assert (tmp_path / 'work/epoch_1.pth').is_file()


def test_test_tool_names_a_missing_checkpoint(tmp_path, toy_root):
    cfg = tiny_config(tmp_path, toy_root)
    out = run([ROOT / 'tools/test.py', cfg, tmp_path / 'nope.pth'], cwd=tmp_path)
    assert out.returncode != 0
    assert 'nope.pth does not exist' in out.stderr


STOCK_CONFIG = """
_base_ = ['mmaction::_base_/default_runtime.py']
custom_imports = dict(imports=['backbones', 'tasks'], allow_failed_imports=False)
model = dict(
    type='Recognizer3D',
    backbone=dict(type='videofm.VideoViT', img_size=32, num_frames=8, patch_size=8, embed_dim=32, depth=1,
                  num_heads=2),
    cls_head=dict(type='videofm.VideoClsHead', num_classes=4, in_channels=32, init_scale=1.0),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, format_shape='NCTHW'))
pipeline = [
    dict(type='DecordInit'), dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1, test_mode=True),
    dict(type='DecordDecode'), dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'), dict(type='PackActionInputs')]
toy = dict(root=ROOT_DIR, **TOY)
train_dataloader = dict(batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='videofm.ToyVideoDataset', toy=toy, ann_file=ROOT_DIR + '/train_list.txt',
                 data_prefix=dict(video=ROOT_DIR), pipeline=pipeline))
val_dataloader = dict(batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='videofm.ToyVideoDataset', toy=toy, ann_file=ROOT_DIR + '/val_list.txt',
                 data_prefix=dict(video=ROOT_DIR), pipeline=pipeline, test_mode=True))
val_evaluator = dict(type='AccMetric')
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
val_cfg = dict(type='ValLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
"""


def test_mmaction_train_tool_trains_videofm_through_custom_imports(tmp_path, toy_root):
    assert MMACTION_TRAIN.is_file()
    cfg = tmp_path / 'stock_mmaction.py'
    cfg.write_text(f'ROOT_DIR = {str(toy_root)!r}\nTOY = {TOY!r}\n' + STOCK_CONFIG)
    out = run([MMACTION_TRAIN, cfg, '--work-dir', tmp_path / 'work'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert metric(log, 'val'), log[-3000:]
    assert (tmp_path / 'work/epoch_1.pth').is_file()


def test_toy_main_job_learns(tmp_path):
    """The README's main job, shortened to 4 epochs on its full-size toy data: val top-1 >= 0.90."""
    root = tmp_path / 'toy_motion'
    options = [f'{loader}.dataset.{key}={value}' for loader in ('train_dataloader', 'val_dataloader')
               for key, value in (('toy.root', root), ('ann_file', root / f"{'train' if 'train' in loader else 'val'}"
                                                        '_list.txt'), ('data_prefix.video', root))]
    out = run([ROOT / 'tools/train.py', TOY_CONFIG, '--work-dir', tmp_path / 'work', '--cfg-options',
               'train_cfg.max_epochs=4', 'train_cfg.val_interval=4', *options], cwd=tmp_path, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    top1 = metric(out.stdout + out.stderr, 'val')
    assert len(top1) == 1 and top1[0] >= 0.90, top1


def test_dist_train_runs_ddp_with_torchrun(tmp_path, toy_root):
    """tools/dist_train.sh: torchrun, 2 processes, MMEngine DDP (gloo on CPU)."""
    cfg = tiny_config(tmp_path, toy_root, max_epochs=1)
    env = {**os.environ, 'PORT': '29512', 'OMP_NUM_THREADS': '1', 'PYTHON': sys.executable}
    out = subprocess.run(['bash', ROOT / 'tools/dist_train.sh', cfg, '2', '--work-dir', tmp_path / 'work'],
                         cwd=tmp_path, capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log, log[-2000:]
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', log), log[-2000:]  # 32 clips / (2 ranks x 8)
    assert (tmp_path / 'work/epoch_1.pth').is_file()


# ----------------------------------------------------------------------------------------- crash safety
def _kill_after_first_checkpoint(cmd, work: Path, cwd: Path) -> int:
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    proc = subprocess.Popen([sys.executable, *map(str, cmd)], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last, deadline = work / 'last_checkpoint', time.time() + 1800
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return int(re.search(r'epoch_(\d+)\.pth', last.read_text()).group(1))


def _weights(path: Path) -> dict:
    import torch
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def test_sigkill_and_resume_ends_with_the_same_weights(tmp_path, toy_root):
    """Deterministic CPU run: killed + --resume == uninterrupted, bit for bit (EpochSeedHook reseeds)."""
    cfg = tiny_config(tmp_path, toy_root, max_epochs=3)
    (tmp_path / 'dp.py').write_text(f"_base_ = [{str(cfg)!r}]\nmodel = dict(backbone=dict(drop_path_rate=0.3))\n")
    cfg = tmp_path / 'dp.py'  # stochastic depth, so that RNG state matters
    train = [ROOT / 'tools/train.py', cfg, '--deterministic', '--seed', '3']
    out = run([*train, '--work-dir', tmp_path / 'straight'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    killed_at = _kill_after_first_checkpoint([*train, '--work-dir', tmp_path / 'crashed'], tmp_path / 'crashed',
                                             tmp_path)
    assert killed_at < 3
    out = run([*train, '--work-dir', tmp_path / 'crashed', '--resume'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not list((tmp_path / 'crashed').glob('.*.tmp-*'))  # no half-written checkpoint left behind
    straight, resumed = _weights(tmp_path / 'straight/epoch_3.pth'), _weights(tmp_path / 'crashed/epoch_3.pth')
    assert straight.keys() == resumed.keys()
    different = [k for k in straight if not straight[k].equal(resumed[k])]
    assert not different, different[:5]


def test_sigkill_and_resume_is_exact_with_the_shipped_loader_settings(tmp_path, toy_root):
    """As above with the configs' data loader settings (num_workers=1, persistent_workers=True): the random
    augmentation in the worker (SampleFrames' offsets) is a function of (seed, epoch, sample), so an
    uninterrupted run, a killed + --resume'd one and one with num_workers=0 end with the same weights."""
    cfg = tiny_config(tmp_path, toy_root, max_epochs=3)
    (tmp_path / 'workers.py').write_text(
        f"_base_ = [{str(cfg)!r}]\nmodel = dict(backbone=dict(drop_path_rate=0.3))\n"
        "train_dataloader = dict(num_workers=1, persistent_workers=True)\n")
    cfg = tmp_path / 'workers.py'
    train = [ROOT / 'tools/train.py', cfg, '--deterministic', '--seed', '3', '--no-validate']
    out = run([*train, '--work-dir', tmp_path / 'straight'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'num_workers=1' in out.stdout + out.stderr and 'persistent_workers=True' in out.stdout + out.stderr
    killed_at = _kill_after_first_checkpoint([*train, '--work-dir', tmp_path / 'crashed'], tmp_path / 'crashed',
                                             tmp_path)
    assert killed_at < 3
    out = run([*train, '--work-dir', tmp_path / 'crashed', '--resume'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    out = run([*train, '--work-dir', tmp_path / 'no_workers', '--cfg-options', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    straight = _weights(tmp_path / 'straight/epoch_3.pth')
    for other in ('crashed', 'no_workers'):
        weights = _weights(tmp_path / other / 'epoch_3.pth')
        different = {k: float((straight[k] - weights[k]).abs().max()) for k in straight
                     if not straight[k].equal(weights[k])}
        assert not different, (other, list(different.items())[:5])


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, toy_root):
    cfg = tiny_config(tmp_path, toy_root, max_epochs=1)
    work = tmp_path / 'work'
    assert run([ROOT / 'tools/train.py', cfg, '--work-dir', work, '--no-validate'], cwd=tmp_path).returncode == 0
    before = (work / 'epoch_1.pth').read_bytes()
    # std 0 turns the inputs into inf, so the loss is NaN from the first step of epoch 2
    broken = ['--cfg-options', 'model.data_preprocessor.std=[0,0,0]', 'train_cfg.max_epochs=2']
    out = run([ROOT / 'tools/train.py', cfg, '--work-dir', work, '--no-validate', '--resume', *broken], cwd=tmp_path)
    assert out.returncode != 0
    assert 'non-finite training loss nan at epoch 2, iter 5' in out.stderr
    assert 'epoch_1.pth' in out.stderr.split('Last good checkpoint:')[1].splitlines()[0]
    assert not (work / 'epoch_2.pth').exists()
    assert (work / 'epoch_1.pth').read_bytes() == before


def test_non_finite_loss_skip_policy_leaves_weights_unchanged(tmp_path, toy_root):
    cfg = tiny_config(tmp_path, toy_root, max_epochs=1)
    work = tmp_path / 'work'
    assert run([ROOT / 'tools/train.py', cfg, '--work-dir', work, '--no-validate'], cwd=tmp_path).returncode == 0
    out = run([ROOT / 'tools/train.py', cfg, '--work-dir', work, '--no-validate', '--resume', '--cfg-options',
               'model.data_preprocessor.std=[0,0,0]', 'train_cfg.max_epochs=2',
               'non_finite_loss.policy=skip'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count('step skipped') + out.stderr.count('step skipped') == 4  # 32 clips / batch 8
    first, second = _weights(work / 'epoch_1.pth'), _weights(work / 'epoch_2.pth')
    assert all(first[k].equal(second[k]) for k in first)


def test_test_tool_loads_official_and_safetensors_checkpoints(tmp_path, toy_root):
    """tools/test.py CKPT accepts an official VideoMAE V2 fine-tuned file and .safetensors as they are."""
    import torch
    from safetensors.torch import save_file
    cfg = tiny_config(tmp_path, toy_root, max_epochs=1)
    work = tmp_path / 'work'
    assert run([ROOT / 'tools/train.py', cfg, '--work-dir', work, '--no-validate'], cwd=tmp_path).returncode == 0
    sd = _weights(work / 'epoch_1.pth')
    official = {k[len('backbone.'):]: v for k, v in sd.items() if k.startswith('backbone.')}
    official.update({'head.weight': sd['cls_head.fc_cls.weight'], 'head.bias': sd['cls_head.fc_cls.bias']})
    torch.save({'module': official}, tmp_path / 'official.pth')  # deepspeed layout of the official repo
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / 'weights.safetensors'))
    scores = []
    for i, ckpt in enumerate((work / 'epoch_1.pth', tmp_path / 'official.pth', tmp_path / 'weights.safetensors')):
        dump = tmp_path / f'preds{i}.pkl'
        out = run([ROOT / 'tools/test.py', cfg, ckpt, '--work-dir', tmp_path / 'test', '--dump', dump], cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        with open(dump, 'rb') as f:
            scores.append(torch.stack([p['pred_score'] for p in pickle.load(f)]))
    assert scores[0].std() > 0  # trained weights, not a constant
    torch.testing.assert_close(scores[1], scores[0])
    torch.testing.assert_close(scores[2], scores[0])


def test_rawframe_toy_config_trains_and_tests(tmp_path, toy_root):
    """The commands in the rawframe toy config's header, then tools/train.py and tools/test.py on that config:
    frames extracted from the toy videos, read through RawframeListDataset + CheckedRawFrameDecode."""
    config = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion-rawframes.py'
    frames = tmp_path / 'data/toy_motion_rawframes'  # the config's data_root, relative to the working dir
    for split in ('train', 'val'):
        out = run([ROOT / 'tools/data/extract_frames.py', toy_root / f'{split}_list.txt', toy_root, frames,
                   '--quiet', '--strict'], cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
    rows = (frames / 'val_list_rawframes.txt').read_text().splitlines()
    assert len(rows) == TOY['num_val'] and all(int(r.split()[1]) == TOY['num_frames'] for r in rows)
    small = ['--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=1', 'model.backbone.depth=1',
             'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
             'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
             'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    work = tmp_path / 'work'
    out = run([ROOT / 'tools/train.py', config, '--work-dir', work, *small], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    val = metric(out.stdout + out.stderr, 'val')
    assert len(val) == 2
    out = run([ROOT / 'tools/test.py', config, work / 'epoch_2.pth', '--work-dir', tmp_path / 'test', *small],
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert metric(out.stdout + out.stderr, 'test') == [val[-1]]
