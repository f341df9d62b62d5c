"""Clips/s of TAD feature extraction: VideoFM's batched decode-once path against the official one-clip-at-a-time
loop that decodes every clip on its own, on the same video(s) and backbone; JSON on stdout.

    python tools/analysis/benchmark_extract.py [--arch small --img-size 112] [--config C --checkpoint K]
        [--frames 300 --height 240 --width 320 --videos 1] [--clip-len 16 --stride 4 --batch-size 16]
        [--device cpu --dtype fp32] [--repeats 2] [--out FILE]

* ``batched``: :meth:`tasks.tad.features.FeatureExtractor.extract` (what ``tools/extract_features.py`` runs per
  video, minus its DataLoader workers): every frame decoded once, resized once, ``--batch-size`` clips per forward.
* ``per_clip``: :func:`tasks.tad.features.extract_per_clip`, the official ``extract_tad_feature.py`` loop: each
  clip's 16 frames decoded with ``get_batch`` (a 4x overlap at stride 4), preprocessed, embedded with batch 1.
* ``decode_only``: the same two paths without the backbone (decode + resize), which bounds a GPU run.

Both give the same features (the max abs difference is reported). The backbone is a random-weight VideoViT
(``--arch``, ``--img-size``) unless ``--config`` / ``--checkpoint`` name a real one; the videos are synthetic
(moving squares, mp4v) of ``--frames`` frames at ``--height x --width``.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _bootstrap  # noqa: E402,F401


def make_video(path: Path, frames: int, height: int, width: int, fps: float = 30.0, seed: int = 0) -> None:
    import cv2
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    for i in range(frames):
        frame = base.copy()
        x, y = (i * 5) % (width - 40), (i * 3) % (height - 40)
        frame[y:y + 40, x:x + 40] = (255, 64, 0)
        writer.write(frame)
    writer.release()


def decode_only_batched(ex, path) -> int:
    from tasks.tad.features import iter_video_chunks
    n = 0
    for chunk in iter_video_chunks(path, ex.clip_len, ex.stride, ex.batch_size):
        ex.pre(chunk['frames'])
        n += chunk['num_clips']
    return n


def decode_only_per_clip(ex, path) -> int:
    import torch

    from tasks.tad.features import _get_batch, num_clips, open_video
    reader, total, _ = open_video(path)
    clips = num_clips(total, ex.clip_len, ex.stride)
    for i in range(clips):
        idx = [min(i * ex.stride + j, total - 1) for j in range(ex.clip_len)]
        ex.pre(torch.from_numpy(_get_batch(reader, idx, path)))
    return clips


def timed_pair(fn_a, fn_b, repeats: int):
    """Best-of-``repeats`` seconds of two functions run alternately (a shared machine's load hits both alike),
    and their last outputs."""
    best, out = [float('inf')] * 2, [None, None]
    for _ in range(repeats):
        for i, fn in enumerate((fn_a, fn_b)):
            start = time.perf_counter()
            out[i] = fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', help='VideoFM recognition / pretraining config (default: a random --arch VideoViT)')
    p.add_argument('--checkpoint', help='its checkpoint')
    p.add_argument('--arch', default='small', help='VideoViT preset when no --config (default %(default)s)')
    p.add_argument('--img-size', type=int, default=112, help='backbone input size when no --config')
    p.add_argument('--frames', type=int, default=300)
    p.add_argument('--height', type=int, default=240)
    p.add_argument('--width', type=int, default=320)
    p.add_argument('--videos', type=int, default=1)
    p.add_argument('--clip-len', type=int, default=16)
    p.add_argument('--stride', type=int, default=4)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--mode', default='official', choices=('official', 'normalized'))
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', default='fp32', choices=('fp32', 'bf16'))
    p.add_argument('--repeats', type=int, default=2, help='best of N runs per path, the paths alternating')
    p.add_argument('--skip-model', action='store_true', help='decode-only numbers only')
    p.add_argument('--out', help='also write the JSON here')
    args = p.parse_args(argv)

    import torch
    from mmengine.registry import init_default_scope

    import tasks  # noqa: F401
    from backbones.registry import MODELS
    from tasks.tad.features import FeatureExtractor, build_feature_backbone, extract_per_clip, num_clips
    init_default_scope('videofm')
    if args.config:
        backbone, info = build_feature_backbone(args.config, args.checkpoint)
        mean, std, desc = info['mean'], info['std'], info['backbone']
    else:
        torch.manual_seed(0)
        desc = dict(type='VideoViT', arch=args.arch, img_size=args.img_size, num_frames=args.clip_len)
        backbone = MODELS.build(dict(desc)).eval()
        mean = std = None
    ex = FeatureExtractor(backbone, args.clip_len, args.stride, args.mode, mean, std, args.device, args.dtype,
                          args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for v in range(args.videos):
            paths.append(Path(tmp) / f'video_{v}.mp4')
            make_video(paths[-1], args.frames, args.height, args.width, seed=v)
        clips = sum(num_clips(args.frames, args.clip_len, args.stride) for _ in paths)

        def sync():
            if ex.device.type == 'cuda':
                torch.cuda.synchronize()

        def run_batched():
            out = [ex.extract(p)[0] for p in paths]
            sync()
            return out

        def run_per_clip():
            out = [extract_per_clip(ex, p) for p in paths]
            sync()
            return out

        result = dict(videos=len(paths), frames_per_video=args.frames, frame_size=[args.height, args.width],
                      clips=clips, clip_len=args.clip_len, stride=args.stride, batch_size=args.batch_size,
                      backbone=desc, input_size=list(ex.pre.size), device=str(ex.device), dtype=args.dtype,
                      torch_threads=torch.get_num_threads())
        (t_b, t_p), _ = timed_pair(lambda: [decode_only_batched(ex, p) for p in paths],
                                   lambda: [decode_only_per_clip(ex, p) for p in paths], args.repeats)
        result['decode_only'] = dict(batched_clips_per_s=round(clips / t_b, 2),
                                     per_clip_clips_per_s=round(clips / t_p, 2),
                                     speedup=round(t_p / t_b, 2))
        if not args.skip_model:
            if ex.device.type == 'cuda':  # warm-up (kernels, allocator)
                run_batched()
            (t_b, t_p), (feats_b, feats_p) = timed_pair(run_batched, run_per_clip, args.repeats)
            result['batched'] = dict(seconds=round(t_b, 3), clips_per_s=round(clips / t_b, 2))
            result['per_clip'] = dict(seconds=round(t_p, 3), clips_per_s=round(clips / t_p, 2))
            result['speedup'] = round(t_p / t_b, 2)
            result['max_abs_diff'] = float(max(np.abs(a - b).max() for a, b in zip(feats_b, feats_p)))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
