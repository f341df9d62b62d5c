"""Data loading speed per DataLoader worker: decode + augmentation clips/s of the training pipelines, and how
many workers a GPU needs at a given training throughput.

Each case builds the training dataset of a config (its own class: the repeated-augmentation datasets decode a
video once and augment it ``num_repeats`` times) on a list that names the benchmark videos, and calls
``dataset[i]`` in this one process with one torch / OpenCV thread, as a DataLoader worker does (MMEngine sets
``opencv_num_threads=0`` in workers; the configs' ``DecordInit(num_threads=...)`` is kept). Each item counts
``num_repeats`` clips. ``clips_per_s = clips / seconds`` after ``--warmup`` untimed items.

Cases (``--cases``, default all):

* ``toy_recognition`` / ``toy_pretraining``: the toy configs' pipelines (8 frames, 32 px) on the toy videos
  (16 frames, 64 x 64, generated into a temporary folder);
* ``recognition``: the ViT-B Kinetics-400 fine-tune pipeline (16x4x1 at 224: RandomResizedCrop, RandAugment,
  flip, 2 augmented clips per decoded video), ``pretraining``: the VideoMAE V2 pretraining pipeline (16x4x1,
  MultiScaleCrop 224, 4 clips per decoded video), each on every ``--video`` (default: OpenCV's
  ``vtest.avi`` when the opencv-doc package is installed) and on a generated 340x256 30 fps mp4 of 300 frames
  (moving shapes over texture and noise; the Kinetics short side is 256-320) when ``--synthetic`` is on
  (default: on when no real video is found).

Workers needed per GPU (the JSON's ``workers_needed``, with ``--gpu-clips-per-s`` given as CASE=CLIPS_PER_S):

    workers = ceil(GPU training clips/s / clips/s of one worker)

and the GPU clips/s of a training step is ``MFU x peak FLOP/s / (model FLOPs per clip of the step)``, e.g. from
``tools/analysis/benchmark.py`` (``gflops_per_clip`` of the phase) or ``tools/analysis/gpu_check.sh``.

    python tools/analysis/benchmark_data.py [--items 20] [--warmup 2] [--video V.mp4 ...] [--out FILE]
        [--gpu-clips-per-s recognition=400 pretraining=1900]
"""
import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
VTEST = Path('/usr/share/doc/opencv-doc/examples/data/vtest.avi')
CONFIGS = dict(
    toy_recognition='configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py',
    toy_pretraining='configs/pretrain/videomaev2/vmaev2-vit-tiny-p8_scratch_1xb16-8x2x1-4e_toy-motion.py',
    recognition='configs/recognition/videomaev2/vit-b-p16_vmaev2-pre_8xb8-16x4x1-90e_kinetics400.py',
    pretraining='configs/pretrain/videomaev2/vmaev2-vit-b-p16_scratch_32xb32-16x4x1-200e_hybrid.py',
)
TOY = dict(num_train=16, num_val=4, num_classes=4, num_frames=16, size=64, seed=0)


def log(msg: str) -> None:
    print(f'[benchmark_data] {msg}', file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cases', default=','.join(CONFIGS), help=f'comma-separated, from {",".join(CONFIGS)}')
    p.add_argument('--video', action='append', default=None,
                   help=f'a real video for the 224-px cases (repeatable; default {VTEST} if present)')
    p.add_argument('--synthetic', choices=('auto', 'on', 'off'), default='auto',
                   help='also a generated 340x256 mp4 (auto: when no real video is found)')
    p.add_argument('--items', type=int, default=20, help='timed dataset items per case (videos)')
    p.add_argument('--warmup', type=int, default=2, help='untimed items first')
    p.add_argument('--gpu-clips-per-s', nargs='*', default=[], metavar='CASE=CLIPS_PER_S',
                   help='training throughput of one GPU per case, for workers_needed')
    p.add_argument('--out', default=None, help='also write the JSON here')
    args = p.parse_args(argv)
    args.case_list = [c.strip() for c in args.cases.split(',') if c.strip()]
    bad = [c for c in args.case_list if c not in CONFIGS]
    if bad:
        p.error(f'--cases: unknown {bad}; choose from {",".join(CONFIGS)}')
    if args.items < 1 or args.warmup < 0:
        p.error('--items must be >= 1 and --warmup >= 0')
    gpu = {}
    for item in args.gpu_clips_per_s:
        name, _, value = item.partition('=')
        try:
            gpu[name] = float(value)
        except ValueError:
            p.error(f'--gpu-clips-per-s: expected CASE=NUMBER, got {item!r}')
    args.gpu = gpu
    return args


def make_synthetic_video(path: Path, frames: int = 300, size=(340, 256), fps: int = 30) -> Path:
    """A 340x256 mp4 (OpenCV's mp4v) of moving discs and squares over a textured, noisy background."""
    import cv2
    import numpy as np
    w, h = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    texture = (96 + 48 * np.sin(xx / 7.0) * np.cos(yy / 11.0)).astype(np.float32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {path} (mp4v)')
    for t in range(frames):
        img = np.repeat(np.roll(texture, t, axis=1)[..., None], 3, axis=2)
        img += rng.normal(0, 8, img.shape).astype(np.float32)
        frame = np.clip(img, 0, 255).astype(np.uint8)
        cv2.circle(frame, (int(40 + 2 * t) % w, 80), 30, (40, 200, 60), -1)
        cv2.rectangle(frame, (150, int(20 + 1.5 * t) % h), (210, int(20 + 1.5 * t) % h + 60), (200, 40, 40), -1)
        writer.write(frame)
    writer.release()
    return path


def build_dataset(config: str, ann_file: str, data_prefix: str, toy_root=None):
    """The config's training dataset on ``ann_file`` (video list) under ``data_prefix``."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tasks  # noqa: F401  (registers the datasets and transforms)
    from backbones.registry import DATASETS
    cfg = Config.fromfile(str(ROOT / config))
    init_default_scope(cfg.get('default_scope', 'videofm'))
    ds = dict(cfg.train_dataloader.dataset)
    ds.update(ann_file=ann_file, data_prefix=dict(video=data_prefix))
    if toy_root is not None:
        ds['toy'] = dict(ds['toy'], root=str(toy_root), **TOY)
    ds.pop('num_classes', None)  # the benchmark list has label 0 only
    return DATASETS.build(ds)


def time_dataset(dataset, items: int, warmup: int) -> dict:
    """Per-item seconds and clips of ``dataset[i]`` (indices cycle over the dataset)."""
    n = len(dataset)
    times, clips = [], 0
    for i in range(warmup + items):
        t0 = time.perf_counter()
        out = dataset[i % n]
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
            clips += len(out) if isinstance(out, list) else 1
    total = sum(times)
    return dict(items=items, clips=clips, seconds=total, clips_per_s=clips / total,
                median_item_s=statistics.median(times), clips_per_item=clips / items)


def main(argv=None) -> int:
    args = parse_args(argv)
    import cv2
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(0)  # as MMEngine's DataLoader workers (env_cfg.mp_cfg.opencv_num_threads=0)
    report = dict(per_worker='one process, 1 torch thread, OpenCV threads 0 (as a DataLoader worker)',
                  cpu=_cpu_name(), loadavg_1m=os.getloadavg()[0] if hasattr(os, 'getloadavg') else None,
                  torch_threads=torch.get_num_threads(), cases={})
    videos = [Path(v) for v in (args.video or ([str(VTEST)] if VTEST.is_file() else []))]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        raise FileNotFoundError(f'--video: no such file: {", ".join(missing)}')
    with tempfile.TemporaryDirectory(prefix='videofm_bench_data_') as tmp:
        tmp = Path(tmp)
        if args.synthetic == 'on' or (args.synthetic == 'auto' and not videos):
            log('writing the synthetic 340x256 video')
            videos.append(make_synthetic_video(tmp / 'synthetic_340x256_300f.mp4'))
        report['videos'] = [dict(path=str(v), **_video_info(v)) for v in videos]
        for case in args.case_list:
            if case.startswith('toy_'):
                from tasks.toy_data.recognition import ensure_recognition
                toy_root = tmp / 'toy'
                ensure_recognition(toy_root, progress=False, **TOY)
                inputs = [('toy', str(toy_root / 'train_list.txt'), str(toy_root), toy_root)]
            else:
                inputs = []
                for v in videos:
                    ann = tmp / f'{v.stem}_list.txt'
                    ann.write_text(''.join(f'{v.name} 0\n' for _ in range(4)))
                    inputs.append((v.name, str(ann), str(v.parent), None))
            for name, ann, prefix, toy_root in inputs:
                log(f'{case} on {name}')
                dataset = build_dataset(CONFIGS[case], ann, prefix, toy_root)
                result = time_dataset(dataset, args.items, args.warmup)
                result['config'] = CONFIGS[case]
                report['cases'][f'{case}/{name}'] = result
                log(f'  {result["clips_per_s"]:.1f} clips/s per worker')
    needed = {}
    for case, gpu_rate in args.gpu.items():
        for key, res in report['cases'].items():
            if key.split('/')[0] == case:
                needed[key] = dict(gpu_clips_per_s=gpu_rate, worker_clips_per_s=res['clips_per_s'],
                                   workers=math.ceil(gpu_rate / res['clips_per_s']))
    report['workers_needed'] = needed
    report['formula'] = 'workers = ceil(GPU training clips/s / clips/s of one worker)'
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + '\n')
    return 0


def _video_info(path: Path) -> dict:
    import cv2
    cap = cv2.VideoCapture(str(path))
    try:
        return dict(width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                    frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), fps=cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown'


if __name__ == '__main__':
    sys.exit(main())
