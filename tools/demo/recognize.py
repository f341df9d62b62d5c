"""Recognise the action in one video with a trained recognizer; optionally write the video with the labels.

    python tools/demo/recognize.py VIDEO CONFIG CKPT --labels FILE [--out-file OUT.mp4] [--device cpu]

The config's test pipeline is used as it is (all its views: e.g. 5 clips x 3 crops, decoded once), the
scores are the head's per-video average of softmax probabilities. Prints the top-5 labels with scores.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools'))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, stack fixes applied)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Top-5 action labels of a video (VideoFM recognizer).')
    p.add_argument('video', help='video file')
    p.add_argument('config', help='recognition config')
    p.add_argument('checkpoint', help='checkpoint (tools/train.py or tools/convert_ckpt.py output)')
    p.add_argument('--labels', required=True, help='text file, one class name per line (line i = class i)')
    p.add_argument('--out-file', help='write the video with the top-5 labels drawn on it (.mp4, mp4v)')
    p.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0')
    p.add_argument('--topk', type=int, default=5)
    p.add_argument('--allow-partial-load', action='store_true',
                   help='run even when the checkpoint leaves model weights unloaded or of the wrong shape')
    return p.parse_args(argv)


def read_labels(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'label file not found: {path}')
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def predict(video, cfg, model):
    """Run the config's test pipeline on ``video`` -> per-class scores (numpy, num_classes)."""
    import torch
    from mmengine.dataset import Compose, pseudo_collate
    from tasks.datasets.decoding import use_checked_decord
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    use_checked_decord(pipeline.transforms)  # decord segfaults on cut AVIs opened from memory
    try:
        data = pipeline(dict(filename=str(video), label=-1, start_index=0, modality='RGB'))
    except Exception as e:  # decord / OpenCV errors do not name the file
        raise RuntimeError(f'cannot read video {video}: {type(e).__name__}: {e}') from e
    with torch.no_grad():
        sample = model.test_step(pseudo_collate([data]))[0]
    return sample.pred_score.float().cpu().numpy()


def frame_total(video) -> int:
    """Frames the decoder finds in ``video`` (decord, opened by path), for the progress bar. The container's
    own count (OpenCV's ``CAP_PROP_FRAME_COUNT``) can claim far more: 444 for opencv-doc's 68-frame tree.avi.
    0 when unknown."""
    try:
        import decord
        return len(decord.VideoReader(str(video), num_threads=1))
    except Exception:  # noqa: BLE001 - only the progress bar's length; writing the video reports real errors
        return 0


def write_video(video, out_file, lines) -> int:
    """Write ``video`` with ``lines`` drawn on every frame to ``out_file``; returns the number of frames."""
    import cv2
    from rich.console import Console
    from rich.progress import Progress

    from tasks.visualization.drawing import put_lines
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise RuntimeError(f'cannot read video {video}')
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.
    total = frame_total(video)
    written = 0
    writer = None
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    with Progress(console=Console(stderr=True), disable=total <= 250) as bar:  # long videos only
        task = bar.add_task(f'writing {Path(out_file).name}', total=total or None)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            rgb = put_lines(frame[..., ::-1], lines)
            if writer is None:
                h, w = rgb.shape[:2]
                writer = cv2.VideoWriter(str(out_file), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
            writer.write(rgb[..., ::-1].copy())
            written += 1
            bar.advance(task)
        bar.update(task, total=written, completed=written)  # ends at 100% whatever the count said
    cap.release()
    if writer is None:
        raise RuntimeError(f'cannot read video {video}: no frames')
    writer.release()
    print(f'wrote {out_file} ({written} frames)')
    return written


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tasks  # noqa: F401
    from tasks.engine.runner import load_model_checkpoint
    from backbones.registry import MODELS
    from tasks.visualization.drawing import label_lines

    video = Path(args.video)
    if not video.is_file():
        raise FileNotFoundError(f'video not found: {video}')
    classes = read_labels(args.labels)
    cfg = Config.fromfile(_bootstrap.resolve_config_alias(args.config))
    init_default_scope(cfg.get('default_scope', 'videofm'))
    model_cfg = cfg.model
    model_cfg.backbone.pop('init_cfg', None)  # weights come from CKPT
    model = MODELS.build(model_cfg)
    load_model_checkpoint(model, args.checkpoint, strict=not args.allow_partial_load)  # every weight, or an error
    model.to(args.device).eval()
    scores = predict(video, cfg, model)
    if len(classes) != len(scores):
        print(f'warning: {args.labels} has {len(classes)} names for {len(scores)} classes', file=sys.stderr)
    lines = label_lines(scores, classes=classes, topk=args.topk)
    for line in lines:
        print(line)
    if args.out_file:
        write_video(video, args.out_file, lines)
    return np.asarray(scores)


if __name__ == '__main__':
    main()
