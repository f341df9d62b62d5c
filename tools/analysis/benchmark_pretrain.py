"""Train-step time and peak memory of VideoMAE V2 dual masking vs encoder-only masking (VideoMAE v1 decoding of
every masked token), each mode in its own subprocess so peak memory is its own.

    python tools/analysis/benchmark_pretrain.py [--arch base] [--frames 16] [--size 224] [--batch 1]
        [--iters 5] [--warmup 2] [--device cpu|cuda] [--amp]

Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA, the process's peak RSS (``ru_maxrss``) on the CPU.
The optimiser is AdamW with ``fused=True`` where this torch supports it on the device (CPU since torch 2.4).
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
MODES = {
    'dual': dict(kind='running_cell', ratio=0.5),
    'encoder-only': None,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='base')
    p.add_argument('--frames', type=int, default=16)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--device', default='cuda' if os.environ.get('CUDA_VISIBLE_DEVICES', '') != '' else 'cpu')
    p.add_argument('--amp', action='store_true', help='bfloat16 autocast (CPU) / fp16 autocast (CUDA)')
    p.add_argument('--mode', choices=list(MODES), help=argparse.SUPPRESS)  # child process
    return p.parse_args(argv)


def run_one(args) -> dict:
    sys.path.insert(0, str(ROOT))
    import torch

    import backbones  # noqa: F401
    from backbones import VideoMAEv2Pretrainer
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = VideoMAEv2Pretrainer(encoder=dict(arch=args.arch, img_size=args.size, num_frames=args.frames),
                                 decoder_mask=MODES[args.mode]).to(device).train()
    fused = None
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=True)
        fused = True
    except (RuntimeError, TypeError):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
        fused = False
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    amp_dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    times = []
    for i in range(args.warmup + args.iters):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=args.amp):
            loss = model(x, mode='loss')['loss_pix']
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return dict(mode=args.mode, step_s=statistics.median(times), steps=times, peak_mib=peak, fused_adamw=fused,
                threads=torch.get_num_threads(), device=str(device))


def main(argv=None):
    args = parse_args(argv)
    if args.mode:
        print(json.dumps(run_one(args)))
        return
    results = {}
    for mode in MODES:
        cmd = [sys.executable, __file__, '--mode', mode, '--arch', args.arch, '--frames', str(args.frames),
               '--size', str(args.size), '--batch', str(args.batch), '--iters', str(args.iters), '--warmup',
               str(args.warmup), '--device', args.device] + (['--amp'] if args.amp else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(f'{mode} run failed:\n{out.stderr[-3000:]}')
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f'ViT-{args.arch} {args.frames}x{args.size}, batch {args.batch}, device {args.device}, '
          f'fused AdamW {results["dual"]["fused_adamw"]}, {results["dual"]["threads"]} threads')
    for mode, r in results.items():
        print(f'  {mode:13s} step {r["step_s"]:.3f} s (median of {len(r["steps"])})  peak {r["peak_mib"]:.0f} MiB')
    speedup = results['encoder-only']['step_s'] / results['dual']['step_s']
    print(f'  dual-masking speed-up: {speedup:.2f}x (target >= 1.35x)')
    print(json.dumps(dict(results=results, speedup=speedup)))


if __name__ == '__main__':
    main()
