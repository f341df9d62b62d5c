"""Sharded training (tasks/engine/fsdp.py, torch FSDP2) with 2 CPU processes (gloo).

* In-process (torch.multiprocessing, a tiny Recognizer3D): FSDP steps equal DDP steps (losses, clipped gradient
  norms, weights) in fp32, with activation checkpointing and with frozen blocks; bf16 mixed precision stays close;
  frozen parameters stay whole and outside the optimiser; full checkpoints load into the sharded model.
* tools/train.py under torchrun (the toy configs): a run killed while training resumes from its sharded
  checkpoint and continues with the uninterrupted run's losses; the merged checkpoint holds the sharded one's
  values and tools/test.py evaluates it to the run's validation accuracy; VideoMAE V2, UMT stage 1 and AVA train a
  few sharded steps (bf16, activation checkpointing).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from backbones.compat import leave_distributed_process

ROOT = Path(__file__).resolve().parents[2]
RECOGNITION = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
VIDEOMAE = ROOT / 'configs/pretrain/videomaev2/vmaev2-vit-tiny-p8_scratch_1xb16-8x2x1-4e_toy-motion.py'
UMT = ROOT / 'configs/pretrain/umt/umt-vit-tiny-p8_random-clip-teacher_1xb16-8x2x1-4e_toy-motion.py'
AVA = ROOT / 'configs/ava/toy/vit-tiny-p8_scratch_1xb8-8x2x1-12e_toy-ava.py'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
FSDP = 'model_wrapper_cfg.type=videofm.VideoFMFSDP'
STEPS = 3

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------- in-process
def _tiny_recognizer(frozen_stages=-1):
    from backbones.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('videofm'):
        return MODELS.build(dict(
            type='Recognizer3D',
            backbone=dict(type='VideoViT', img_size=16, num_frames=4, patch_size=8, tubelet_size=2, embed_dim=32,
                          depth=3, num_heads=2, frozen_stages=frozen_stages),
            cls_head=dict(type='VideoClsHead', num_classes=3, in_channels=32),
            data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW')))


def _batch(rank: int, step: int) -> dict:
    from mmaction.structures import ActionDataSample
    g = torch.Generator().manual_seed(100 * step + rank)
    inputs = [torch.randn(1, 3, 4, 16, 16, generator=g) for _ in range(2)]
    samples = [ActionDataSample().set_gt_label(torch.randint(0, 3, (1, ), generator=g)) for _ in range(2)]
    return dict(inputs=inputs, data_samples=samples)


def _full(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor
    return (t.full_tensor() if isinstance(t, DTensor) else t).detach().clone()


def _train_variant(rank: int, kind: str, options: dict, frozen_stages: int, accumulate: int = 1) -> dict:
    from mmengine.logging import MessageHub
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import OptimWrapper

    from tasks.engine.fsdp import VideoFMFSDP
    torch.manual_seed(rank)  # different on purpose: both wrappers start every rank from rank 0's weights
    model = _tiny_recognizer(frozen_stages)
    torch.manual_seed(0)
    model.init_weights()
    if kind == 'ddp':
        for v in model.state_dict().values():
            dist.broadcast(v, 0)
        wrapped = MMDistributedDataParallel(module=model, device_ids=None)
    else:
        wrapped = VideoFMFSDP(model, **options)
    init = {k: _full(v) for k, v in wrapped.module.state_dict().items()}  # every rank: rank 0's weights
    params = [p for p in wrapped.parameters() if p.requires_grad]
    optim = OptimWrapper(torch.optim.AdamW(params, lr=1e-2), clip_grad=dict(max_norm=0.05),
                         accumulative_counts=accumulate)
    hub = MessageHub.get_current_instance()
    losses, norms = [], []
    for step in range(STEPS):
        log_vars = wrapped.train_step(_batch(rank, step), optim)
        losses.append(float(log_vars['loss']))
        if (step + 1) % accumulate == 0:  # clipped (and logged) only when the optimiser steps
            norms.append(hub.get_scalar('train/grad_norm').current())
    state = {k: _full(v) for k, v in wrapped.module.state_dict().items()}
    out = dict(losses=losses, norms=norms, state=state, init=init)
    if kind == 'fsdp':
        from torch.distributed.tensor import DTensor
        frozen = [n for n, p in wrapped.module.named_parameters() if not p.requires_grad]
        out['frozen_plain'] = all(not isinstance(p, DTensor) for p in wrapped.module.parameters()
                                  if not p.requires_grad)
        out['frozen_names'] = frozen
        out['optim_state_params'] = len(optim.optimizer.state)
        out['trainable_params'] = len(params)
        out['units'] = wrapped.num_units
        # a full (unsharded) state dict loads into the sharded model: every rank keeps its shard of it
        wrapped.module.load_state_dict(init)
        out['reloaded'] = {k: _full(v) for k, v in wrapped.module.state_dict().items()}
    return out


VARIANTS = {
    'ddp': ('ddp', {}, -1),
    'fsdp': ('fsdp', {}, -1),
    'fsdp_ac': ('fsdp', dict(activation_checkpointing=True, reshard_after_forward=False), -1),
    'fsdp_bf16': ('fsdp', dict(mixed_precision='bf16'), -1),
    'ddp_frozen': ('ddp', {}, 1),
    'fsdp_frozen': ('fsdp', {}, 1),
    'ddp_accumulate': ('ddp', {}, -1, 2),  # gradient accumulation over 2 micro-batches (no_sync)
    'fsdp_accumulate': ('fsdp', {}, -1, 2),
}


def _worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        import tasks  # noqa: F401  (registers VideoFM's modules)
        results = {name: _train_variant(rank, *spec) for name, spec in VARIANTS.items()}
        torch.save(results, os.path.join(out_dir, f'{rank}.pt'))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    leave_distributed_process()  # no interpreter finalisation: gloo can abort there (backbones.compat, workaround 5)


@pytest.fixture(scope='module')
def variants(tmp_path_factory):
    out = tmp_path_factory.mktemp('fsdp_variants')
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(out / f'{r}.pt', weights_only=False) for r in range(2)]


def _assert_same_state(a: dict, b: dict, atol: float):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=lambda m: f'{k}: {m}')


@pytest.mark.parametrize('name,ref', [('fsdp', 'ddp'), ('fsdp_ac', 'ddp'), ('fsdp_frozen', 'ddp_frozen'),
                                      ('fsdp_accumulate', 'ddp_accumulate')])
def test_fsdp_steps_equal_ddp_steps(variants, name, ref):
    """Same data, same seed, 3 AdamW steps with gradient clipping that bites (norm >> 0.05): FSDP (sharded
    DTensor gradients, clipped by their full norm) and DDP agree to float32 rounding (losses 1e-5 relative,
    weights 1e-5 absolute), on both ranks; also with activation checkpointing (and no resharding after forward),
    frozen blocks, and gradient accumulation over 2 micro-batches (FSDP ``no_sync``)."""
    for rank in range(2):
        got, want = variants[rank][name], variants[rank][ref]
        assert min(want['norms']) > 0.5  # clipping is active, so the norm must be the full gradients' norm
        assert got['losses'] == pytest.approx(want['losses'], rel=1e-5, abs=1e-6)
        assert got['norms'] == pytest.approx(want['norms'], rel=1e-4)
        _assert_same_state(got['state'], want['state'], atol=1e-5)
    # ranks saw different data, yet hold one model
    _assert_same_state(variants[0][name]['state'], variants[1][name]['state'], atol=0)
    _assert_same_state(variants[0][name]['init'], variants[1][name]['init'], atol=0)
    _assert_same_state(variants[0][name]['init'], variants[0][ref]['init'], atol=0)
    assert variants[0][name]['losses'] != variants[1][name]['losses']


def test_bf16_mixed_precision_stays_close_to_fp32(variants):
    """bf16 parameters / activations with fp32 reduction and master weights: losses within bf16 rounding of
    fp32's; the sharded master weights stay fp32 and moved about as far from the start as fp32's did."""
    for rank in range(2):
        got, want = variants[rank]['fsdp_bf16'], variants[rank]['ddp']
        assert got['losses'] == pytest.approx(want['losses'], rel=2e-2)
        assert got['losses'] != want['losses']  # bf16 really was used
        assert all(v.dtype == torch.float32 for v in got['state'].values() if v.is_floating_point())
        moved = [torch.cat([(r['state'][k] - r['init'][k]).flatten() for k in r['init']
                            if r['init'][k].is_floating_point()]) for r in (got, want)]
        assert float(moved[0].norm()) == pytest.approx(float(moved[1].norm()), rel=0.2)
        assert torch.nn.functional.cosine_similarity(moved[0], moved[1], dim=0) > 0.9


def test_frozen_parameters_stay_whole_and_out_of_the_optimiser(variants):
    for rank in range(2):
        res = variants[rank]['fsdp_frozen']
        # frozen_stages=1: patch embedding, position table, block 0
        assert res['frozen_names'] and all(n.startswith(('backbone.patch_embed', 'backbone.blocks.0.'))
                                           for n in res['frozen_names'])
        assert res['frozen_plain']
        assert res['units'] == 2  # blocks 1 and 2; the frozen block 0 is not sharded
        assert res['optim_state_params'] == res['trainable_params']
        for name in res['frozen_names']:
            torch.testing.assert_close(res['state'][name], res['init'][name], atol=0, rtol=0)
    assert variants[0]['fsdp']['units'] == 3


def test_full_state_dict_loads_into_the_sharded_model(variants):
    for rank in range(2):
        _assert_same_state(variants[rank]['fsdp']['reloaded'], variants[rank]['fsdp']['init'], atol=0)


# ------------------------------------------------------------------------------------ tools/train.py
def _options(toy: dict, extra=()) -> list:
    out = [*extra]
    for loader in LOADERS:
        out += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
        out += [f'{loader}.dataset.toy.{k}={v}' for k, v in toy.items()]
    return out


def _env() -> dict:
    return {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}


def _torchrun(args, cwd, port) -> list:
    return [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1',
            f'--master_port={port}', str(ROOT / 'tools/train.py'), *map(str, args), '--launcher', 'pytorch']


def _train(args, cwd, port=None):
    out = subprocess.run(_torchrun(args, cwd, port or _free_port()), cwd=cwd, env=_env(), capture_output=True,
                         text=True, timeout=1800)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout + out.stderr


def _descendants(pid: int) -> list:
    """Every process below ``pid`` (from /proc), children first."""
    parents = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / 'stat').read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(')', 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found = children + found
        frontier = children
    return found


def _losses(work_dir: Path, newest_only: bool = False) -> dict:
    """iteration -> loss of the runs in ``work_dir`` (LocalVisBackend's scalars.json, logger interval 1); with
    ``newest_only`` of the last run only."""
    runs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    losses = {}
    for scalars in runs[-1:] if newest_only else runs:
        for line in scalars.read_text().splitlines():
            row = json.loads(line)
            if 'loss' in row:
                losses[row['step']] = row['loss']
    return losses


REC_TOY = dict(num_train=16, num_val=8)
ITERS = 2  # per epoch: 16 clips, 2 processes x batch 4
REC_OPTIONS = _options(REC_TOY, [
    'model.backbone.depth=2', 'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1', 'train_cfg.val_interval=1', FSDP])


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    from tasks.toy_data.recognition import ensure_recognition
    root = tmp_path_factory.mktemp('fsdp_toy')
    ensure_recognition(root / 'data/toy_motion', progress=False, num_classes=4, num_frames=16, size=64, seed=0,
                       **REC_TOY)
    return root


def test_killed_run_resumes_from_the_sharded_checkpoint_with_the_uninterrupted_losses(toy_root):
    """The same 5-epoch FSDP run twice: uninterrupted, and SIGKILLed (the whole process group) once its first
    sharded checkpoint exists, then ``--resume`` (the latest checkpoint of the work dir). Every iteration after
    the one resumed from has the uninterrupted run's loss (exact up to float32 rounding: 1e-6)."""
    config = [RECOGNITION, '--cfg-options', *REC_OPTIONS, 'train_cfg.max_epochs=5']
    _train([*config[:1], '--work-dir', 'full', *config[1:]], toy_root)
    full = _losses(toy_root / 'full')
    assert len(full) == 5 * ITERS

    proc = subprocess.Popen(_torchrun([config[0], '--work-dir', 'killed', *config[1:]], toy_root, _free_port()),
                            cwd=toy_root, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    last = toy_root / 'killed/last_checkpoint'
    deadline = time.time() + 1500
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    for pid in [*_descendants(proc.pid), proc.pid]:  # torchrun's workers run in sessions of their own
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)
    resumed_from = Path(last.read_text().strip())
    assert resumed_from.is_dir() and (resumed_from / '.metadata').is_file()
    done = max(_losses(toy_root / 'killed'), default=0)
    assert done < 5 * ITERS, 'the run finished before it was killed'

    log = _train([config[0], '--work-dir', 'killed', '--resume', *config[1:]], toy_root)
    assert f'resumed from the sharded checkpoint {resumed_from}' in log
    resumed = _losses(toy_root / 'killed', newest_only=True)
    epoch = int(resumed_from.name.split('_')[1].split('.')[0])  # epoch_N.pth
    assert min(resumed) == epoch * ITERS + 1 and max(resumed) == 5 * ITERS
    for it, loss in resumed.items():
        assert loss == pytest.approx(full[it], abs=1e-6), f'iteration {it}'

    # the merged checkpoint: the sharded one's values (read back by DCP into a plain model, one process), and
    # tools/test.py evaluates it to the accuracy the sharded run validated at that epoch
    from tasks.engine.fsdp import load_sharded_model, merge_sharded_checkpoint
    ckpt = toy_root / 'full/epoch_5.pth'
    merged = merge_sharded_checkpoint(str(ckpt), str(toy_root / 'merged.pth'))
    reference = _tiny_toy_model()
    load_sharded_model(reference, str(ckpt))
    want = reference.state_dict()
    assert merged['state_dict'].keys() == want.keys() and merged['meta']['epoch'] == 5
    for k, v in want.items():
        torch.testing.assert_close(merged['state_dict'][k], v, atol=0, rtol=0)
    assert not torch.equal(merged['state_dict']['cls_head.fc_cls.weight'],
                           _tiny_toy_model().state_dict()['cls_head.fc_cls.weight'])
    test = subprocess.run([sys.executable, str(ROOT / 'tools/test.py'), str(RECOGNITION), 'merged.pth',
                           '--work-dir', 'test', '--cfg-options', *_options(REC_TOY, ['model.backbone.depth=2'])],
                          cwd=toy_root, env=_env(), capture_output=True, text=True, timeout=1800)
    assert test.returncode == 0, (test.stdout + test.stderr)[-4000:]
    tested = json.loads(next((toy_root / 'test').glob('*/*.json')).read_text())
    validated = [json.loads(line) for line in next((toy_root / 'full').glob('*/vis_data/scalars.json')).read_text()
                 .splitlines() if 'acc/top1' in line]
    assert tested['acc/top1'] == pytest.approx(validated[-1]['acc/top1']) and validated[-1]['step'] == 5


def _tiny_toy_model():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import tasks  # noqa: F401
    from backbones.registry import MODELS
    cfg = Config.fromfile(RECOGNITION)
    cfg.model.backbone.depth = 2
    with DefaultScope.overwrite_default_scope('videofm'):
        return MODELS.build(cfg.model)


AVA_TOY = dict(num_train=2, num_val=1, seconds=5, height=48, width=64)
PRETRAIN_OPTIONS = [*(f'train_dataloader.dataset.toy.{k}={v}' for k, v in REC_TOY.items()),
                    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                    'train_dataloader.batch_size=4']
TOY_RUNS = {
    # config, options, sharding units (encoder + decoder blocks; UMT's CLIP teacher is no submodule), wrapper option
    'videomaev2': (VIDEOMAE, PRETRAIN_OPTIONS, 4 + 2, 'model_wrapper_cfg.activation_checkpointing=True'),
    'umt': (UMT, PRETRAIN_OPTIONS, 6, 'model_wrapper_cfg.mixed_precision=bf16'),
    'ava': (AVA, _options(AVA_TOY, [f'{loader}.dataset.timestamp_end=905' for loader in LOADERS]), 4,
            'model_wrapper_cfg.reshard_after_forward=False'),
}


@pytest.mark.parametrize('name', sorted(TOY_RUNS))
def test_toy_configs_train_sharded(toy_root, name):
    """The pretraining (VideoMAE V2 with activation checkpointing, UMT stage 1 in bf16) and AVA toy configs train
    an epoch sharded over 2 processes and save a sharded checkpoint holding exactly the model's weights."""
    import torch.distributed.checkpoint as dcp
    if name == 'ava' and not (toy_root / 'data/toy_ava').exists():
        from tasks.ava.toy import ensure_ava
        ensure_ava(toy_root / 'data/toy_ava', progress=False, **AVA_TOY)
    config, options, units, option = TOY_RUNS[name]
    log = _train([config, '--work-dir', name, '--cfg-options', *options, 'train_cfg.max_epochs=1',
                  'default_hooks.logger.interval=1', FSDP, option], toy_root)
    assert f'VideoFMFSDP: {units} sharding units + root over 2 processes' in log
    losses = _losses(toy_root / name)
    assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    saved = {k[len('state_dict.'):] for k in dcp.FileSystemReader(str(toy_root / name / 'epoch_1.pth'))
             .read_metadata().state_dict_metadata if k.startswith('state_dict.')}
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import tasks  # noqa: F401
    from backbones.registry import MODELS
    with DefaultScope.overwrite_default_scope('videofm'):
        model = MODELS.build(Config.fromfile(config).model)
    assert saved == set(model.state_dict())
    assert not any('teacher' in k for k in saved)
