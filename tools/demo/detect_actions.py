"""Draw AVA action detections on a video.

    python tools/demo/detect_actions.py VIDEO CONFIG CKPT (--proposals PKL | --boxes CSV) [--out OUT.mp4|DIR]

VIDEO is a video file or a rawframes folder (img_00001.jpg ...), frame i at time timestamp_start + (i - 1) / fps
(the AVA convention; --timestamp-start, --fps). Person boxes come from a proposals pickle ("{video_id},{ts:04d}" ->
(N, 4|5) normalised, the AVADataset format; video_id = VIDEO's stem) or a csv (video_id, timestamp, x1, y1, x2, y2,
...; rows of other videos are ignored). Each keyframe is classified with CONFIG's test pipeline and model; frames
within half a second of a keyframe get its boxes and the labels scoring >= --thr. OUT ending in .mp4 is a video,
anything else a folder of jpgs.
"""
import argparse
import csv
import pickle
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools'))
import _bootstrap  # noqa: E402,F401

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def read_boxes(args, video_id):
    """-> {timestamp: (N, 4) normalised boxes}."""
    out = defaultdict(list)
    if args.proposals:
        with open(args.proposals, 'rb') as f:
            props = pickle.load(f)
        for key, arr in props.items():
            vid, ts = key.rsplit(',', 1)
            if vid == video_id:
                arr = np.asarray(arr, dtype=np.float64)
                if arr.shape[1] == 5:
                    arr = arr[arr[:, 4] >= min(args.det_thr, arr[:, 4].max())]
                out[int(ts)] = list(arr[:, :4])
    else:
        with open(args.boxes) as f:
            for row in csv.reader(f):
                if row and row[0] == video_id:
                    box = tuple(map(float, row[2:6]))
                    if box not in out[int(row[1])]:
                        out[int(row[1])].append(box)
    return {ts: np.array(b, dtype=np.float32).reshape(-1, 4) for ts, b in out.items()}


def frames_dir(video, tmp):
    """A rawframes folder for VIDEO (decoded into ``tmp`` when VIDEO is a file)."""
    video = Path(video)
    if video.is_dir():
        return video
    cap = cv2.VideoCapture(str(video))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        i += 1
        cv2.imwrite(str(Path(tmp) / f'img_{i:05d}.jpg'), frame)
    cap.release()
    if i == 0:
        raise SystemExit(f'detect_actions.py: cannot read frames from {video}')
    return Path(tmp)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('video')
    p.add_argument('config')
    p.add_argument('checkpoint')
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--proposals', help='proposals pickle (AVADataset format)')
    g.add_argument('--boxes', help='csv with person boxes per keyframe')
    p.add_argument('--out', default='demo_out.mp4', help='OUT.mp4 or a folder')
    p.add_argument('--thr', type=float, default=0.3, help='action score to draw')
    p.add_argument('--det-thr', type=float, default=0.9, help='person score threshold for 5-column proposals')
    p.add_argument('--timestamp-start', type=int, default=900)
    p.add_argument('--fps', type=int, default=30)
    p.add_argument('--device', default='cpu')
    p.add_argument('--allow-partial-load', action='store_true',
                   help='run even when the checkpoint leaves model weights unloaded or of the wrong shape')
    args = p.parse_args(argv)

    import torch
    from mmengine.config import Config
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import DefaultScope

    import mmaction.models  # noqa: F401
    import tasks  # noqa: F401
    from tasks.engine.runner import load_model_checkpoint
    from backbones.registry import MODELS
    from tasks.ava.metric import read_label_map
    from tasks.visualization.drawing import draw_labelled_boxes

    cfg = Config.fromfile(_bootstrap.resolve_config_alias(args.config))
    video_id = Path(args.video).stem
    boxes = read_boxes(args, video_id)
    if not boxes:
        raise SystemExit(f'detect_actions.py: no boxes for video id {video_id!r}')
    ds_cfg = cfg.test_dataloader.dataset
    names = {}
    if ds_cfg.get('label_file') and Path(ds_cfg.label_file).is_file():
        names = read_label_map(ds_cfg.label_file)[0]
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'videofm')), \
            tempfile.TemporaryDirectory() as tmp:
        model = MODELS.build(cfg.model)
        load_model_checkpoint(model, args.checkpoint, strict=not args.allow_partial_load)  # every weight, or an error
        model.to(args.device).eval()
        pipeline = Compose(cfg.test_pipeline)
        fdir = frames_dir(args.video, tmp)
        total = len(list(fdir.glob('img_*.jpg')))
        dets = {}
        for ts, b in sorted(boxes.items()):
            info = dict(frame_dir=str(fdir), video_id=video_id, timestamp=ts, img_key=f'{video_id},{ts:04d}',
                        shot_info=(0, total), fps=args.fps, timestamp_start=args.timestamp_start,
                        filename_tmpl='img_{:05}.jpg', start_index=1, modality='RGB', proposals=b,
                        gt_bboxes=np.zeros((0, 4), np.float32), gt_labels=np.zeros((0, model.num_classes), np.float32))
            data = pseudo_collate([pipeline(info)])
            with torch.no_grad():
                pred = model.test_step(data)[0].pred_instances
            dets[ts] = (pred.bboxes.numpy(), pred.scores.numpy())
        out = Path(args.out)
        writer = None
        if out.suffix != '.mp4':
            out.mkdir(parents=True, exist_ok=True)
        for i in range(1, total + 1):
            img = cv2.imread(str(fdir / f'img_{i:05d}.jpg'))[:, :, ::-1]
            t = args.timestamp_start + (i - 1) / args.fps
            ts = min(dets, key=lambda k: abs(k - t))
            if abs(ts - t) <= 0.5:
                h, w = img.shape[:2]
                boxes, labels = [], []
                for box, sc in zip(*dets[ts]):
                    boxes.append(tuple((box * [w, h, w, h]).round().astype(int)))
                    labels.append([f'{names.get(int(c), c)} {sc[c]:.2f}' for c in np.argsort(-sc)[:3]
                                   if sc[c] >= args.thr])
                img, _ = draw_labelled_boxes(img, boxes, labels, scale=max(0.25, h / 900))  # labels never overlap
            bgr = np.ascontiguousarray(img[:, :, ::-1])
            if out.suffix == '.mp4':
                if writer is None:
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*'mp4v'), float(args.fps),
                                             (bgr.shape[1], bgr.shape[0]))
                writer.write(bgr)
            else:
                cv2.imwrite(str(out / f'img_{i:05d}.jpg'), bgr)
        if writer is not None:
            writer.release()
    print(f'detections for {len(dets)} keyframes drawn into {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
