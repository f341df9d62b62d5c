"""The GPU check of issue 18, run by ``tools/analysis/gpu_check.sh``: one JSON on stdout with

* ``vit_b`` / ``vit_g``: ViT-B/16 and ViT-g/14 16x224, bf16: inference clips/s and fine-tune step (forward +
  cross-entropy + backward + fused AdamW) clips/s, achieved TFLOP/s and MFU against ``--peak-tflops``
  (``tools/analysis/benchmark.py``; ViT-B also against mmaction2's ``VisionTransformer``);
* ``pretrain_b``: ViT-B VideoMAE V2 pretraining step with dual masking vs encoder-only masking (VideoFM), and the
  official recipe's encoder-only step (re-implemented, ``benchmark_pretrain.py``), with the ratios;
* ``vit_g_max_batch``: the largest ViT-g/14 16x224 bf16 fine-tune batch that runs a full step without activation
  checkpointing (doubling, then bisection; an out-of-memory error is caught and the cache emptied between probes;
  parameters, gradients and AdamW state stay allocated, as in training);
* ``fsdp``: training steps of a ViT-B VideoViT classifier sharded with FSDP2 in a 1-process group (nccl on CUDA,
  gloo on CPU): through ``tasks.engine.fsdp.VideoFMFSDP`` (bf16 mixed precision), or, where that module is absent,
  ``torch.distributed.fsdp.fully_shard`` on every block and the root (``impl`` names which);
* ``targets``: the issue's GPU targets, each with the measured value and whether it is met.

Each section runs in its own subprocess with a time limit, so a failure or a hang is reported in its entry and the
other sections still run; the whole check stops starting sections when ``--budget-s`` (default 450 s) is spent.
``--cpu-smoke`` runs the same code paths at tiny sizes on the CPU (for the tests).

    python tools/analysis/gpu_check.py [--peak-tflops 989] [--budget-s 450] [--out FILE] [--cpu-smoke]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BENCH = HERE / 'benchmark.py'
MARK = 'GPU_CHECK_RESULT '

# sizes per mode: (benchmark.py arguments, batch) per section
GPU = dict(
    vit_b=['--arch', 'base', '--frames', '16', '--img', '224', '--batch', '16', '--iters', '8', '--warmup', '3'],
    vit_g=['--arch', 'giant', '--frames', '16', '--img', '224', '--batch', '8', '--iters', '5', '--warmup', '2',
           '--no-mmaction'],
    pretrain_b=['--arch', 'base', '--frames', '16', '--img', '224', '--batch', '16', '--iters', '8', '--warmup', '3'],
    max_batch=dict(arch='giant', frames=16, img=224, depth=None, start=4, cap=512),
    fsdp=dict(arch='base', frames=16, img=224, depth=None, batch=8),
)
SMOKE = dict(
    vit_b=['--arch', 'small', '--frames', '4', '--img', '32', '--depth', '1', '--batch', '2', '--iters', '1',
           '--warmup', '0', '--no-mmaction'],  # mmaction2 at tiny sizes: tests/tools/test_benchmark.py
    vit_g=['--arch', 'giant', '--frames', '4', '--img', '28', '--depth', '1', '--batch', '2', '--iters', '1',
           '--warmup', '0', '--no-mmaction'],
    pretrain_b=['--arch', 'small', '--frames', '4', '--img', '32', '--depth', '1', '--batch', '2', '--iters', '1',
                '--warmup', '0'],
    max_batch=dict(arch='giant', frames=4, img=28, depth=1, start=1, cap=4),
    fsdp=dict(arch='small', frames=4, img=32, depth=1, batch=2),
)
# seconds each section may take on the GPU (process start and model build included)
LIMITS = dict(vit_b=100, vit_g=110, pretrain_b=110, max_batch=110, fsdp=60)


def log(msg: str) -> None:
    print(f'[gpu_check] {msg}', file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--peak-tflops', type=float, default=float(os.environ.get('PEAK_TFLOPS', 989)),
                   help='dense bf16 peak of the GPU in TFLOP/s (H100 / H200 SXM: 989; A100: 312)')
    p.add_argument('--budget-s', type=float, default=450, help='start no section after this many seconds')
    p.add_argument('--cpu-smoke', action='store_true', default=os.environ.get('GPU_CHECK_CPU_SMOKE') == '1',
                   help='tiny sizes on the CPU: the same code paths, for tests (env GPU_CHECK_CPU_SMOKE=1)')
    p.add_argument('--compile', action='store_true', help='torch.compile the models (adds compile time)')
    p.add_argument('--out', default=None, help='also write the JSON here')
    p.add_argument('--_section', choices=('max_batch', 'fsdp'), default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------ sections
def _bench(args, extra, phases, timeout):
    device = ['--device', 'cpu', '--threads', '1'] if args.cpu_smoke else ['--device', 'cuda']
    cmd = [sys.executable, str(BENCH), *extra, *device, '--dtype', 'bf16', '--phases', phases,
           '--peak-tflops', str(args.peak_tflops)] + (['--compile'] if args.compile else [])
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, cwd=str(ROOT), timeout=timeout)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return dict(error=f'benchmark.py exited with code {proc.returncode} and no JSON (see stderr)')
    if proc.returncode:
        report['error'] = f'benchmark.py exited with code {proc.returncode}'
    return report


def _pick(entry: dict) -> dict:
    keys = ('clips_per_s', 'step_s', 'median_s', 'peak_mem_mb', 'batch', 'gflops_per_clip', 'achieved_tflops',
            'mfu', 'error')
    return {k: entry[k] for k in keys if k in entry}


def section_vit(args, name: str, timeout: float) -> dict:
    sizes = (SMOKE if args.cpu_smoke else GPU)[name]
    report = _bench(args, sizes, 'forward,train', timeout)
    out = {k: _pick(report.get('videofm', {}).get(k, {})) for k in ('forward', 'train')}
    if 'mmaction' in report:
        out['mmaction'] = {k: _pick(report['mmaction'].get(k, {})) for k in ('forward', 'train')}
        out['speedup_vs_mmaction'] = {k: report.get('ratio', {}).get(k) for k in ('forward_speedup', 'train_speedup')}
    out['params'] = report.get('videofm', {}).get('params')
    out['gflops_per_clip_forward_analytic'] = report.get('model', {}).get('gflops_per_clip')
    if 'error' in report:
        out['error'] = report['error']
    return out


def section_pretrain(args, timeout: float) -> dict:
    report = _bench(args, (SMOKE if args.cpu_smoke else GPU)['pretrain_b'], 'pretrain_dual,pretrain_v1', timeout)
    out = {f'{impl}_{phase}': _pick(report.get(impl, {}).get(phase, {}))
           for impl in ('videofm', 'official') for phase in ('pretrain_dual', 'pretrain_v1')}
    ratio = report.get('ratio', {})
    out['dual_vs_encoder_only'] = ratio.get('pretrain_dual_vs_v1')
    out['dual_vs_official_encoder_only'] = ratio.get('pretrain_dual_vs_official_v1')
    out['official_dual_vs_official_encoder_only'] = ratio.get('official_dual_vs_official_v1')
    if 'error' in report:
        out['error'] = report['error']
    return out


def _in_subprocess(args, section: str, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), '--_section', section,
           '--peak-tflops', str(args.peak_tflops)] + (['--cpu-smoke'] if args.cpu_smoke else [])
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, cwd=str(ROOT), timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f'timed out after {timeout:.0f} s')
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if not lines:
        return dict(error=f'exited with code {proc.returncode} and no result (see stderr)')
    return json.loads(lines[-1][len(MARK):])


def _vit(sizes: dict, device, **kw):
    from backbones import VideoViT
    with device:
        return VideoViT(sizes['arch'], img_size=sizes['img'], num_frames=sizes['frames'], depth=sizes['depth'],
                        **kw)


def run_max_batch(args) -> dict:
    """Largest fine-tune batch of ViT-g/14 16x224 (bf16 autocast, fp32 weights, fused AdamW, no activation
    checkpointing) that runs a full step: doubling from ``start`` until a step fails with out-of-memory (or
    ``cap``), then bisection between the last batch that fit and the first that did not."""
    import gc

    import torch
    import torch.nn.functional as F
    sizes = (SMOKE if args.cpu_smoke else GPU)['max_batch']
    dev = torch.device('cpu' if args.cpu_smoke else 'cuda')
    torch.manual_seed(0)
    model = _vit(sizes, dev).train()
    head = torch.nn.Linear(model.embed_dim, 400, device=dev)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
    oom_types = (torch.OutOfMemoryError,)
    probes = []

    def fits(b: int) -> bool:
        t0 = time.perf_counter()
        ok, err = True, None
        if dev.type == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        try:
            x = torch.randn(b, 3, sizes['frames'], sizes['img'], sizes['img'], device=dev)
            y = torch.randint(0, 400, (b,), device=dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                logits = head(model(x))
            F.cross_entropy(logits.float(), y).backward()
            opt.step()
            if dev.type == 'cuda':
                torch.cuda.synchronize()
        except oom_types as e:
            ok, err = False, str(e).split('\n')[0][:200]
        finally:
            opt.zero_grad(set_to_none=True)
            x = y = logits = None  # noqa: F841  (free the activations before the next probe)
            gc.collect()
            if dev.type == 'cuda':
                torch.cuda.empty_cache()
        probe = dict(batch=b, fits=ok, s=round(time.perf_counter() - t0, 3))
        if dev.type == 'cuda':
            probe['peak_gb'] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
        if err:
            probe['error'] = err
        probes.append(probe)
        log(f'max batch probe {probe}')
        return ok

    lo, hi, b = 0, None, sizes['start']
    while b <= sizes['cap']:
        if fits(b):
            lo, b = b, b * 2
        else:
            hi = b
            break
    if hi is not None:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
    total = torch.cuda.get_device_properties(0).total_memory / 2 ** 30 if dev.type == 'cuda' else None
    return dict(max_batch=lo, first_failing_batch=hi, capped=hi is None, checkpointing=False, dtype='bf16 autocast',
                params=sum(p.numel() for p in params), device_total_gb=total, probes=probes,
                note='full step: forward + backward + fused AdamW; weights, gradients and optimizer state resident')


def run_fsdp(args) -> dict:
    """FSDP2 training steps (VideoFMFSDP, or ``fully_shard`` per block + root; bf16 params, fp32 reduce) of a VideoViT
    classifier in a 1-process group; returns the step time, peak memory and the loss, and checks the parameters are
    DTensors."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    sizes = (SMOKE if args.cpu_smoke else GPU)['fsdp']
    cuda = not args.cpu_smoke
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    if 'MASTER_PORT' not in os.environ:
        import socket
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            os.environ['MASTER_PORT'] = str(s.getsockname()[1])
    dist.init_process_group('nccl' if cuda else 'gloo', rank=0, world_size=1)
    try:
        dev = torch.device('cuda', 0) if cuda else torch.device('cpu')
        if cuda:
            torch.cuda.set_device(dev)
            torch.cuda.reset_peak_memory_stats()
        torch.manual_seed(0)
        vit = _vit(sizes, dev)
        classifier = torch.nn.Sequential(vit, torch.nn.Linear(vit.embed_dim, 400, device=dev)).train()
        try:  # VideoFM's MMEngine model wrapper (what model_wrapper_cfg=dict(type='videofm.VideoFMFSDP') builds)
            from tasks.engine.fsdp import VideoFMFSDP
        except ImportError:
            VideoFMFSDP = None
        if VideoFMFSDP is not None:
            model = VideoFMFSDP(classifier, mixed_precision='bf16')
            impl = 'tasks.engine.fsdp.VideoFMFSDP (FSDP2 fully_shard per Block + root, bf16)'
        else:
            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
            for block in vit.blocks:
                fully_shard(block, mp_policy=mp)
            model = fully_shard(classifier, mp_policy=mp)
            impl = 'torch.distributed.fsdp.fully_shard (FSDP2) on VideoViT blocks + root, bf16'
        from torch.distributed.tensor import DTensor
        sharded = all(isinstance(p, DTensor) for p in vit.parameters())
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        b = sizes['batch']
        x = torch.randn(b, 3, sizes['frames'], sizes['img'], sizes['img'], device=dev)
        y = torch.randint(0, 400, (b,), device=dev)
        times, loss = [], None
        for _ in range(3):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(x).float(), y)
            loss.backward()
            loss = loss.detach()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return dict(impl=impl, world_size=dist.get_world_size(),
                    backend=dist.get_backend(), params_are_dtensors=sharded, batch=b, loss=loss.item(),
                    loss_finite=bool(torch.isfinite(loss)), step_s=min(times[1:]), first_step_s=times[0],
                    peak_mem_mb=torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None)
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------- main
def targets(result: dict) -> dict:
    """The issue's GPU targets with the measured values (None where a section failed)."""
    def get(*keys):
        x = result
        for k in keys:
            x = x.get(k) if isinstance(x, dict) else None
        return x
    rows = dict(
        vit_g_finetune_mfu=(get('vit_g', 'train', 'mfu'), 0.45),
        vit_g_max_batch_per_80gb=(None, 8),
        vit_b_pretrain_mfu=(get('pretrain_b', 'videofm_pretrain_dual', 'mfu'), 0.30),
        dual_vs_encoder_only=(get('pretrain_b', 'dual_vs_encoder_only'), 1.79),
    )
    mb, total = get('vit_g_max_batch', 'max_batch'), get('vit_g_max_batch', 'device_total_gb')
    if mb and total:
        rows['vit_g_max_batch_per_80gb'] = (mb * 80 / total, 8)  # scaled by memory (activations dominate)
    return {k: dict(value=v, target=t, met=None if v is None else bool(v >= t)) for k, (v, t) in rows.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args._section:
        import backbones  # noqa: F401  (stack fixes)
        fn = dict(max_batch=run_max_batch, fsdp=run_fsdp)[args._section]
        print(MARK + json.dumps(fn(args)), flush=True)
        return 0
    start = time.time()
    import torch
    result = dict(mode='cpu-smoke' if args.cpu_smoke else 'gpu', torch=torch.__version__,
                  device=('cpu' if args.cpu_smoke or not torch.cuda.is_available()
                          else torch.cuda.get_device_name(0)),
                  peak_tflops=args.peak_tflops, dtype='bf16', compile=args.compile)
    if not args.cpu_smoke and not torch.cuda.is_available():
        result['error'] = 'no CUDA device (use --cpu-smoke for the CPU code-path check)'
        print(json.dumps(result, indent=2))
        return 1
    scale = 20 if args.cpu_smoke else 1  # the CPU smoke run is slow to start, not to compute
    sections = [('vit_b', lambda t: section_vit(args, 'vit_b', t)), ('vit_g', lambda t: section_vit(args, 'vit_g', t)),
                ('pretrain_b', lambda t: section_pretrain(args, t)),
                ('vit_g_max_batch', lambda t: _in_subprocess(args, 'max_batch', t)),
                ('fsdp', lambda t: _in_subprocess(args, 'fsdp', t))]
    limits = dict(vit_b=LIMITS['vit_b'], vit_g=LIMITS['vit_g'], pretrain_b=LIMITS['pretrain_b'],
                  vit_g_max_batch=LIMITS['max_batch'], fsdp=LIMITS['fsdp'])
    for name, fn in sections:
        spent = time.time() - start
        if spent > args.budget_s and not args.cpu_smoke:
            result[name] = dict(error=f'skipped: {spent:.0f} s of the {args.budget_s:.0f} s budget spent')
            continue
        log(f'{name}: starting ({spent:.0f} s spent)')
        t0 = time.time()
        try:
            result[name] = fn(limits[name] * scale)
        except subprocess.TimeoutExpired as e:
            result[name] = dict(error=f'timed out after {e.timeout:.0f} s')
        except Exception as e:  # noqa: BLE001  (one section failing must not lose the others' numbers)
            result[name] = dict(error=f'{type(e).__name__}: {e}')
        result[name]['section_s'] = round(time.time() - t0, 1)
    result['targets'] = targets(result)
    result['elapsed_s'] = round(time.time() - start, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + '\n')
    failed = [k for k, v in result.items() if isinstance(v, dict) and 'error' in v]
    if failed:
        log(f'sections with errors: {failed}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
