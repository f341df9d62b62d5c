"""Peak memory and step time of the end-to-end TAD training step (tasks/tad/end_to_end.py): frozen encoder +
temporal adapters + activation checkpointing against full fine-tuning, writing JSON.

    python tools/analysis/benchmark_tad_e2e.py [--device cpu|cuda] [--arch base] [--frames 32] [--size 112]
        [--batch 1] [--modes adapters_cp,adapters,full_cp,full] [--iters 2] [--warmup 1] [--dtype fp32|bf16]
        [--threads N] [--out FILE]

Defaults: on CPU, ViT-B at a small window (32 frames at 112 px, batch 1, fp32); with ``--device cuda`` the AdaTAD
ViT-g 768 x 160 configuration (batch 2, bf16 autocast), the one OpenTAD reports at 30.7 GB / 3.6 s per iteration
(fp16, per GPU). Every mode runs in its own fresh subprocess, so peak memory never mixes.

A step is one real training step through MMEngine's ``OptimWrapper`` (AdamW, grad clip 1.0): uint8 frames ->
:class:`tasks.tad.EndToEndTAD` loss (ActionFormer, 512-d, global attention as the AdaTAD configs) -> backward
-> optimizer step. Random weights (no checkpoint needed: speed and memory do not depend on the values), random
frames and two ground-truth segments per window. Modes:

* ``adapters_cp``: frozen encoder, an adapter after every block, block + adapter checkpointed (the configs);
* ``adapters``: the same without checkpointing;
* ``full_cp`` / ``full``: every encoder weight trains (no adapters), with / without checkpointing.

``peak_mem_mb``: CUDA ``torch.cuda.max_memory_allocated()``; CPU: peak resident set size (``ru_maxrss``) minus
the resident size right before the model is built (weights + activations + gradients + optimizer state).
``step_s``: median wall time of the timed steps (CUDA synchronised).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODES = ('adapters_cp', 'adapters', 'full_cp', 'full')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    p.add_argument('--arch', default=None, help="VideoViT preset (default: base on CPU, giant on CUDA)")
    p.add_argument('--frames', type=int, default=None, help='frames per window (default 32 CPU, 768 CUDA)')
    p.add_argument('--size', type=int, default=None, help='frame size (default 112 CPU, 160 CUDA)')
    p.add_argument('--batch', type=int, default=None, help='windows per step (default 1 CPU, 2 CUDA)')
    p.add_argument('--dtype', default=None, choices=('fp32', 'bf16'), help='encoder autocast (fp32 CPU, bf16 CUDA)')
    p.add_argument('--modes', default=None, help=f'comma-separated subset of {",".join(MODES)} '
                                                 '(default all on CPU, adapters_cp on CUDA)')
    p.add_argument('--iters', type=int, default=2)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--out', default='work_dirs/benchmark_tad_e2e.json')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    cuda = args.device == 'cuda'
    args.arch = args.arch or ('giant' if cuda else 'base')
    args.frames = args.frames or (768 if cuda else 32)
    args.size = args.size or (160 if cuda else 112)
    args.batch = args.batch or (2 if cuda else 1)
    args.dtype = args.dtype or ('bf16' if cuda else 'fp32')
    args.modes = (args.modes or ('adapters_cp' if cuda else ','.join(MODES))).split(',')
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        p.error(f'unknown modes {bad}; choose from {MODES}')
    if args.frames % 16:
        p.error('--frames must be a multiple of 16 (the chunk length)')
    return args


def _rss_kb() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def run_mode(args, mode: str) -> dict:
    import torch
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmengine.structures import BaseDataElement

    import tasks  # noqa: F401
    from backbones.registry import MODELS
    from tasks.tad.grid import FeatureGrid
    init_default_scope('videofm')
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    frames = torch.randint(0, 256, (args.batch, 3, args.frames, args.size, args.size), dtype=torch.uint8)
    adapters = mode.startswith('adapters')
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    rss0 = _rss_kb()
    model = MODELS.build(dict(
        type='EndToEndTAD',
        backbone=dict(type='AdapterVideoViT', arch=args.arch, drop_path_rate=0.1,
                      adapter_indices=None if adapters else [], freeze=adapters, with_cp=mode.endswith('_cp')),
        detector=dict(type='ActionFormer', num_classes=20, embed_dims=512, head_dims=512, window_size=None),
        feat_upsample=2, dtype=args.dtype)).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = OptimWrapper(torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05), clip_grad=dict(max_norm=1.0))
    duration = args.frames * 4 / 30.
    samples = [BaseDataElement(metainfo=dict(video_name=f'v{b}', duration=duration, num_frames=args.frames,
                                             frame_grid=FeatureGrid(fps=30., stride=4, clip_len=4, offset=0.)),
                               gt_segments=torch.tensor([[0.1, 0.3], [0.5, 0.8]]) * duration,
                               gt_labels=torch.tensor([1, 3])) for b in range(args.batch)]
    inputs = [f.to(device) for f in frames]
    times = []
    for i in range(args.warmup + args.iters):
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        losses = model(inputs, samples, mode='loss')
        optim.update_params(sum(losses.values()))
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    n_train = sum(p.numel() for p in params)
    n_all = sum(p.numel() for p in model.parameters())
    frozen_state = sum(1 for p in model.parameters() if not p.requires_grad and p in optim.optimizer.state)
    return dict(mode=mode, step_s=statistics.median(times), times_s=times, peak_mem_mb=peak,
                trainable_params=n_train, total_params=n_all, frozen_params_with_optimizer_state=frozen_state,
                arch=args.arch, frames=args.frames, size=args.size, batch=args.batch, dtype=args.dtype,
                device=args.device, threads=torch.get_num_threads(), torch=torch.__version__)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_mode(args, args.child)))
        return 0
    results = []
    base = [a for a in (argv if argv is not None else sys.argv[1:])]
    for mode in args.modes:
        cmd = [sys.executable, str(Path(__file__).resolve()), *base, '--child', mode]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if out.returncode != 0:
            results.append(dict(mode=mode, error=out.stderr.strip().splitlines()[-1:]))
            print(f'{mode}: failed: {out.stderr[-2000:]}', file=sys.stderr)
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f'{mode:12s} step {res["step_s"]:.2f} s  peak {res["peak_mem_mb"]:.0f} MB  trainable '
              f'{res["trainable_params"] / 1e6:.2f}M of {res["total_params"] / 1e6:.1f}M')
    report = dict(benchmark='tad_e2e_train_step', results=results,
                  reference=dict(source='OpenTAD AdaTAD ViT-g 768x160 (fp16, per GPU)', peak_mem_gb=30.7,
                                 step_s=3.6))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
