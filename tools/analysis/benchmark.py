"""Throughput, train-step time and peak memory of VideoFM's VideoViT next to mmaction2's VisionTransformer.

Both encoders are built with the same sizes and initialisation (mmaction2's gets ``init_weights()``) and run
on the same clips, each model and each phase (forward, train step) in its own fresh subprocess so that peak
memory and thread state never mix. Progress goes to stderr; the JSON result goes to stdout (and to ``--out``).
Timings on a shared machine are noisy: use ``--rounds`` (models run alternately, fastest round kept), compare
the ``*_best`` ratios (fastest iterations) as well, and prefer ``--threads 1`` when other processes hold the
cores (busy-waiting OpenMP threads make oversubscribed runs erratic).

Example (from the repository root, nothing installed)::

    python tools/analysis/benchmark.py --arch base --frames 16 --img 224 --iters 3 --warmup 1
    python tools/analysis/benchmark.py --arch small --frames 8 --img 112 --train --device cuda --dtype bf16

Measured:

* forward: ``model.eval()`` under ``torch.no_grad()``; ``clips_per_s = batch / median(iteration seconds)``.
* train step: forward + cross-entropy on a ``Linear(C, 400)`` head + backward + AdamW step (``fused=True``
  on CUDA); ``step_s`` is the median step time.
* peak memory: CUDA ``torch.cuda.max_memory_allocated()`` (weights + inputs + activations + optimizer
  state); CPU: the peak resident set size (``ru_maxrss``) minus the resident size right before the model was
  built, both in the worker's own process.
* model FLOPs per clip, counted by torch's ``FlopCounterMode`` (see :func:`model_flops`), and model FLOPs
  utilisation when ``--peak-tflops`` is given (train counts 3x the forward FLOPs).

``--dtype bf16`` runs the model under ``torch.autocast(dtype=torch.bfloat16)`` with fp32 weights.
"""
import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing; workers `import backbones`
    sys.path.insert(0, str(ROOT))
RESULT_MARKER = 'BENCHMARK_RESULT '
IMPLS = ('videofm', 'mmaction')


def log(msg: str) -> None:
    print(f'[benchmark] {msg}', file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='base',
                        help='VideoViT preset (small, base, large, huge, giant, umt-base, umt-large)')
    parser.add_argument('--frames', type=int, default=16, help='clip length T')
    parser.add_argument('--img', type=int, default=224, help='clip height = width')
    parser.add_argument('--batch', type=int, default=1, help='clips per iteration')
    parser.add_argument('--depth', type=int, default=None, help='override the preset depth (quick runs)')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations before timing')
    parser.add_argument('--dtype', choices=('fp32', 'bf16'), default='fp32')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=None, help='default: cuda if available')
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: the usable cores)')
    parser.add_argument('--train', action='store_true', help='also time a training step')
    parser.add_argument('--no-mmaction', action='store_true', help="skip mmaction2's VisionTransformer")
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help='peak dense TFLOP/s of the device at --dtype, for model FLOPs utilisation')
    parser.add_argument('--rounds', type=int, default=1,
                        help='run the models alternately this many times and keep the fastest round of each '
                             '(for shared machines)')
    parser.add_argument('--out', default=None, help='also write the JSON here')
    parser.add_argument('--_worker', choices=IMPLS, default=None, help=argparse.SUPPRESS)
    parser.add_argument('--_phase', choices=('forward', 'train'), default='forward', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ('frames', 'img', 'batch', 'iters', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.depth is not None and args.depth < 1:
        parser.error('--depth must be >= 1')
    return args


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------------------------- FLOPs
def model_flops(spec: dict, frames: int, img: int) -> dict:
    """Forward cost of one clip, counted by ``torch.utils.flop_counter.FlopCounterMode`` on VideoFM's VideoViT
    built on the meta device (no memory, no compute). It counts matrix products and convolutions (linear
    layers, the tubelet convolution, attention's ``q k^T`` and ``attn v``); norms, softmax, GELU and
    additions are not counted, as usual. FLOPs = 2 * multiply-accumulates (MACs); the VideoMAE papers report
    MACs as "FLOPs" (ViT-B 16x224 = 180 G).

    Args:
        spec (dict): ``embed_dim``, ``depth``, ``num_heads``, ``head_dim``, ``mlp_ratio``, ``patch_size``,
            ``tubelet_size``, ``in_channels``.
        frames (int): Clip length T.
        img (int): Clip height = width.

    Returns:
        dict: ``tokens``, ``gmacs`` (total, and per part: ``patch_embed``, ``attention``, ``mlp``) and
        ``gflops`` per clip.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from backbones import VideoViT
    with torch.device('meta'):
        model = VideoViT(img_size=img, num_frames=frames, patch_size=spec['patch_size'],
                         tubelet_size=spec['tubelet_size'], in_channels=spec['in_channels'],
                         embed_dim=spec['embed_dim'], depth=spec['depth'], num_heads=spec['num_heads'],
                         head_dim=spec['head_dim'], mlp_ratio=spec['mlp_ratio'], out_type='tokens').eval()
        x = torch.empty(1, spec['in_channels'], frames, img, img)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        tokens = model(x).shape[1]
    per_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    blocks = [f'VideoViT.blocks.{i}' for i in range(spec['depth'])]
    parts = {'patch_embed': per_module.get('VideoViT.patch_embed', 0),
             'attention': sum(per_module.get(b + '.attn', 0) for b in blocks),
             'mlp': sum(per_module.get(b + '.mlp', 0) for b in blocks)}
    total = counter.get_total_flops()
    return dict(tokens=tokens, gmacs=total / 2e9, gflops=total / 1e9,
                gmacs_by_part={k: v / 2e9 for k, v in parts.items()})


# -------------------------------------------------------------------------------------------- worker
def _current_rss_kb() -> int:
    """Resident set size now (KiB), from /proc; falls back to the high-water mark elsewhere."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024
    except (OSError, ValueError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _model_class(impl: str):
    """The encoder class; imported before the memory baseline so that imports do not count as model memory."""
    if impl == 'videofm':
        from backbones import VideoViT
        return VideoViT
    from mmaction.models.backbones.vit_mae import VisionTransformer
    return VisionTransformer


def _build(impl: str, spec: dict, args):
    cls = _model_class(impl)
    if impl == 'videofm':
        return cls(img_size=args.img, num_frames=args.frames, patch_size=spec['patch_size'],
                   tubelet_size=spec['tubelet_size'], embed_dim=spec['embed_dim'], depth=spec['depth'],
                   num_heads=spec['num_heads'], mlp_ratio=spec['mlp_ratio'], out_type='pooled')
    if spec['head_dim'] * spec['num_heads'] != spec['embed_dim']:
        raise ValueError("mmaction2's VisionTransformer cannot set head_dim; no matching model")
    model = cls(img_size=args.img, patch_size=spec['patch_size'], embed_dims=spec['embed_dim'],
                depth=spec['depth'], num_heads=spec['num_heads'], mlp_ratio=spec['mlp_ratio'], qkv_bias=True,
                num_frames=args.frames, tubelet_size=spec['tubelet_size'], use_mean_pooling=True)
    # the same initialisation as VideoViT (trunc-normal .02 Linear, unit LayerNorm), as a Runner would apply;
    # mmengine logs every parameter at INFO while doing it
    logging.disable(logging.INFO)
    try:
        model.init_weights()
    finally:
        logging.disable(logging.NOTSET)
    return model


def model_spec(args) -> dict:
    """Sizes of ``--arch`` (with ``--depth``), resolved from the VideoFM presets."""
    from backbones.presets import get_preset
    preset = get_preset(args.arch)
    spec = dict(embed_dim=preset['embed_dim'], depth=args.depth or preset['depth'],
                num_heads=preset['num_heads'],
                mlp_ratio=preset['mlp_ratio'], patch_size=preset['patch_size'],
                tubelet_size=preset['tubelet_size'], in_channels=3)
    spec['head_dim'] = spec['embed_dim'] // spec['num_heads']
    spec['mlp_hidden'] = int(spec['embed_dim'] * spec['mlp_ratio'])
    return spec


def run_worker(args) -> dict:
    """Build one model and time one phase in this (fresh) process; returns the measurements."""
    import backbones  # noqa: F401  (applies the OpenMMLab stack fixes before mmaction is imported)
    import torch
    import torch.nn.functional as F
    from contextlib import nullcontext

    impl, phase = args._worker, args._phase
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda but CUDA is not available')
    threads = args.threads or usable_cores()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = model_spec(args)
    cuda = device.type == 'cuda'

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    _model_class(impl)  # import first: the baseline below must not count module imports
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    rss_before_kb = _current_rss_kb()
    model = _build(impl, spec, args).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    x = torch.randn(args.batch, 3, args.frames, args.img, args.img, device=device)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.dtype == 'bf16' else nullcontext())
    times = []
    if phase == 'forward':
        model.eval()

        def step():
            with torch.no_grad(), autocast:
                return model(x)
    else:
        model.train()
        head = torch.nn.Linear(spec['embed_dim'], 400).to(device)
        params = list(model.parameters()) + list(head.parameters())
        optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05, fused=cuda)
        labels = torch.randint(0, 400, (args.batch,), device=device)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                logits = head(model(x))
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            optimizer.step()
            return loss

    for i in range(args.warmup + args.iters):
        sync()
        start = time.perf_counter()
        out = step()
        sync()
        elapsed = time.perf_counter() - start
        if not torch.isfinite(out).all():
            raise FloatingPointError(f'{impl} {phase} produced non-finite values')
        warm = i < args.warmup
        if not warm:
            times.append(elapsed)
        log(f'{impl} {phase} {"warmup" if warm else "iter"} {i + 1 - (0 if warm else args.warmup)}/'
            f'{args.warmup if warm else args.iters}: {elapsed:.3f} s')
    if cuda:
        peak_mb = torch.cuda.max_memory_allocated(device) / 2 ** 20
    else:
        import resource
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb) / 1024
    median = statistics.median(times)
    result = dict(impl=impl, phase=phase, params=n_params, threads=threads,
                  iter_s=[round(t, 5) for t in times], median_s=median, mean_s=statistics.fmean(times),
                  min_s=min(times), peak_mem_mb=peak_mb, spec=spec, torch=torch.__version__,
                  device_name=torch.cuda.get_device_name(device) if cuda else _cpu_name())
    if phase == 'forward':
        result['clips_per_s'] = args.batch / median
        result['s_per_clip'] = median / args.batch
    else:
        result['step_s'] = median
    return result


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---------------------------------------------------------------------------------------------- main
def _worker_cmd(args, impl: str, phase: str) -> list:
    cmd = [sys.executable, str(Path(__file__).resolve()), '--_worker', impl, '--_phase', phase,
           '--arch', args.arch, '--frames', str(args.frames), '--img', str(args.img),
           '--batch', str(args.batch), '--iters', str(args.iters), '--warmup', str(args.warmup),
           '--dtype', args.dtype, '--device', args.device]
    if args.depth is not None:
        cmd += ['--depth', str(args.depth)]
    if args.threads is not None:
        cmd += ['--threads', str(args.threads)]
    return cmd


def _run_in_subprocess(args, impl: str, phase: str) -> dict:
    log(f'{impl} {phase}: starting a fresh process')
    proc = subprocess.run(_worker_cmd(args, impl, phase), stdout=subprocess.PIPE, stderr=None, text=True,
                          cwd=str(ROOT))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        return dict(error=f'worker exited with code {proc.returncode} (see stderr above)')
    return json.loads(lines[-1][len(RESULT_MARKER):])


def _fastest(results: list) -> dict:
    """The round with the lowest median time (an error only if every round failed), with every round's
    median attached as ``round_median_s``."""
    good = [r for r in results if 'error' not in r]
    if not good:
        return results[-1]
    best = dict(min(good, key=lambda r: r['median_s']))
    best['round_median_s'] = [r.get('median_s') for r in results]
    return best


def _ratio(a, b):
    return a / b if a and b else None


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker is not None:
        result = run_worker(args)
        print(RESULT_MARKER + json.dumps(result), flush=True)
        return 0

    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    phases = ['forward'] + (['train'] if args.train else [])
    impls = ['videofm'] + ([] if args.no_mmaction else ['mmaction'])
    load_before = os.getloadavg() if hasattr(os, 'getloadavg') else None
    threads = args.threads or usable_cores()
    if args.device == 'cpu' and load_before and threads > 1 and load_before[0] >= usable_cores():
        # OpenMP worker threads busy-wait at every parallel region; when other processes hold the cores the
        # waits dominate (seen here: a small-model train step 0.29 s with 1 thread, 6.7 s with 2 threads)
        log(f'load average {load_before[0]:.1f} >= {usable_cores()} cores: other processes compete for '
            f'the CPU, so {threads} torch threads oversubscribe it and timings will be erratic; '
            'consider --threads 1')
    # rounds alternate the models (videofm, mmaction, videofm, ...) so that a burst of outside load hits both;
    # each model keeps its fastest round (lowest median)
    rounds = {impl: {phase: [] for phase in phases} for impl in impls}
    for r in range(args.rounds):
        if args.rounds > 1:
            log(f'round {r + 1}/{args.rounds}')
        for phase in phases:
            for impl in impls:
                rounds[impl][phase].append(_run_in_subprocess(args, impl, phase))
    runs = {impl: {phase: _fastest(rounds[impl][phase]) for phase in phases} for impl in impls}

    ok = [r for per_impl in runs.values() for r in per_impl.values() if 'error' not in r]
    if not ok:
        print(json.dumps(dict(error='every worker failed', runs=runs), indent=2))
        return 1
    spec = ok[0]['spec']
    flops = model_flops(spec, args.frames, args.img)
    flops_per_clip = flops['gflops'] * 1e9

    report = dict(
        config=dict(arch=args.arch, frames=args.frames, img=args.img, batch=args.batch, depth=spec['depth'],
                    dtype=args.dtype, device=args.device, iters=args.iters, warmup=args.warmup,
                    threads=ok[0]['threads'], rounds=args.rounds,
                    timing='median over the timed iterations of the fastest round'),
        env=dict(torch=ok[0]['torch'], device_name=ok[0]['device_name'], python=platform.python_version(),
                 usable_cores=usable_cores(),
                 loadavg_1m_before=load_before[0] if load_before else None,
                 loadavg_1m_after=os.getloadavg()[0] if load_before else None),
        model=dict(spec=spec, tokens=flops['tokens'], gmacs_per_clip=flops['gmacs'],
                   gflops_per_clip=flops['gflops'], gmacs_by_part=flops['gmacs_by_part']),
    )
    for impl in impls:
        entry = {}
        fwd = runs[impl]['forward']
        entry['forward'] = ({k: fwd[k] for k in ('clips_per_s', 's_per_clip', 'median_s', 'mean_s', 'min_s',
                                                   'iter_s', 'round_median_s', 'peak_mem_mb')}
                            if 'error' not in fwd else fwd)
        if 'error' not in fwd:
            entry['params'] = fwd['params']
            entry['forward']['achieved_tflops'] = flops_per_clip * fwd['clips_per_s'] / 1e12
            if args.peak_tflops:
                entry['forward']['mfu'] = entry['forward']['achieved_tflops'] / args.peak_tflops
        if args.train:
            tr = runs[impl]['train']
            keys = ('step_s', 'median_s', 'mean_s', 'min_s', 'iter_s', 'round_median_s', 'peak_mem_mb')
            entry['train'] = {k: tr[k] for k in keys} if 'error' not in tr else tr
            if 'error' not in tr:
                entry['train']['achieved_tflops'] = 3 * flops_per_clip * args.batch / tr['step_s'] / 1e12
                if args.peak_tflops:
                    entry['train']['mfu'] = entry['train']['achieved_tflops'] / args.peak_tflops
        report[impl] = entry

    if 'mmaction' in report:
        vf, mm = report['videofm'], report['mmaction']
        ratio = dict(
            forward_speedup=_ratio(vf['forward'].get('clips_per_s'), mm['forward'].get('clips_per_s')),
            forward_speedup_best=_ratio(mm['forward'].get('min_s'), vf['forward'].get('min_s')),
            forward_mem=_ratio(vf['forward'].get('peak_mem_mb'), mm['forward'].get('peak_mem_mb')),
            same_param_count=vf.get('params') == mm.get('params'))
        if args.train:
            ratio['train_speedup'] = _ratio(mm['train'].get('step_s'), vf['train'].get('step_s'))
            ratio['train_speedup_best'] = _ratio(mm['train'].get('min_s'), vf['train'].get('min_s'))
            ratio['train_mem'] = _ratio(vf['train'].get('peak_mem_mb'), mm['train'].get('peak_mem_mb'))
        ratio['note'] = ('speedup = VideoFM / mmaction2 throughput from median times (>1: VideoFM faster), '
                         '*_best from the fastest iterations (more robust on a shared machine); '
                         'mem = VideoFM / mmaction2 peak memory')
        report['ratio'] = ratio

    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + '\n')
        log(f'wrote {args.out}')
    failed = [f'{impl} {phase}' for impl in runs for phase in runs[impl] if 'error' in runs[impl][phase]]
    if failed:
        log(f'failed: {failed}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
