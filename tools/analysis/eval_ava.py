"""Evaluate AVA detections in the official CSV format: frame mAP @ 0.5 IoU with the ActivityNet semantics.

    python tools/analysis/eval_ava.py GT_CSV PRED_CSV --label-map PBTXT [--exclude CSV] [--iou 0.5]

Prints JSON: {"mAP": float, "per_class": {class_id: AP}, "categories": {name: mean AP}}. Predictions: video_id,
timestamp, x1, y1, x2, y2, action_id, score (normalised boxes). See tasks/ava/metric.py for the exact rules.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _bootstrap  # noqa: E402,F401

from tasks.ava.metric import evaluate_files  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('gt_csv', help='ground truth csv (video_id, timestamp, x1, y1, x2, y2, action_id[, entity])')
    parser.add_argument('pred_csv', help='detections csv (video_id, timestamp, x1, y1, x2, y2, action_id, score)')
    parser.add_argument('--label-map', required=True, help='pbtxt label map; its ids are the evaluated classes')
    parser.add_argument('--exclude', help='excluded timestamps csv (removed from ground truth and detections)')
    parser.add_argument('--iou', type=float, default=0.5, help='matching IoU')
    parser.add_argument('--max-dets', type=int, default=50, help='detections kept per frame (official: 50)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar (it goes to stderr)')
    args = parser.parse_args(argv)
    out = evaluate_files(args.gt_csv, args.pred_csv, args.label_map, args.exclude, args.iou, args.max_dets,
                         progress=not args.quiet)
    print(json.dumps(dict(mAP=out['mAP'], per_class={str(k): v for k, v in out['per_class'].items()},
                          categories=out['categories']), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
