"""Wall time of the TAD evaluator (tasks/tad/metric.py) on a synthetic THUMOS14-size set, printed as JSON.

    python tools/analysis/benchmark_tad_eval.py [--videos 213 --classes 20 --predictions 400000 --tiou thumos14]
        [--repeats 3] [--out FILE]

The set: per video 1-3 classes with 2-16 ground-truth segments each (THUMOS14 test: 213 videos, 20 classes,
~3.4k segments) and predictions spread over all classes, half of them jittered copies of ground truth, scores
rounded to 3 decimals (many ties). Times: reading both JSON files, and the evaluation on the parsed data
(fastest of --repeats). ActivityNet's pandas evaluator needs ~18 s for this size (reference figure).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _bootstrap  # noqa: E402,F401

from tasks.tad.metric import detection_map, read_ground_truth, read_predictions  # noqa: E402


def synthetic(num_videos: int, num_classes: int, num_preds: int, seed: int = 0):
    """Ground-truth and prediction dicts in ActivityNet format."""
    rng = np.random.default_rng(seed)
    labels = [f'class_{i:02d}' for i in range(num_classes)]
    database, results = {}, {}
    per_video = np.full(num_videos, num_preds // num_videos)
    per_video[:num_preds % num_videos] += 1
    for v in range(num_videos):
        vid = f'video_test_{v:07d}'
        duration = float(rng.uniform(60, 600))
        anns = []
        for c in rng.choice(num_classes, size=rng.integers(1, 4), replace=False):
            for _ in range(rng.integers(2, 17)):
                s = float(rng.uniform(0, duration - 20))
                anns.append(dict(segment=[round(s, 2), round(s + float(rng.uniform(0.5, 20)), 2)], label=labels[c]))
        database[vid] = dict(subset='test', duration=duration, annotations=anns)
        n = int(per_video[v])
        near = rng.random(n) < 0.5
        pick = rng.integers(0, len(anns), n)
        base = np.array([anns[i]['segment'] for i in pick])
        start = np.where(near, base[:, 0] + rng.normal(0, 1.5, n), rng.uniform(0, duration - 5, n))
        length = np.where(near, base[:, 1] - base[:, 0], rng.uniform(0.5, 30, n)) * rng.uniform(0.7, 1.3, n)
        lab = np.where(near & (rng.random(n) < 0.7), [labels.index(anns[i]['label']) for i in pick],
                       rng.integers(0, num_classes, n))
        score = np.round(rng.random(n) ** 2, 3)
        results[vid] = [dict(segment=[float(s), float(s + d)], label=labels[c], score=float(sc))
                        for s, d, c, sc in zip(start, length, lab, score)]
    return dict(database=database), dict(results=results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--videos', type=int, default=213)
    parser.add_argument('--classes', type=int, default=20)
    parser.add_argument('--predictions', type=int, default=400_000)
    parser.add_argument('--tiou', default='thumos14', help='preset (thumos14, activitynet) or comma-separated list')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='also write the JSON here')
    args = parser.parse_args(argv)
    tious = args.tiou if args.tiou[:1].isalpha() else [float(t) for t in args.tiou.split(',')]
    gt, pred = synthetic(args.videos, args.classes, args.predictions, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = os.path.join(tmp, 'gt.json'), os.path.join(tmp, 'pred.json')
        for path, data in ((gt_path, gt), (pred_path, pred)):
            with open(path, 'w') as f:
                json.dump(data, f)
        t0 = time.perf_counter()
        ground_truth = read_ground_truth(gt_path, 'test')
        predictions = read_predictions(pred_path)
        read_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = detection_map(ground_truth, predictions, tious)
        times.append(time.perf_counter() - t0)
    result = dict(videos=args.videos, classes=args.classes, gt_segments=int(len(ground_truth.segments)),
                  predictions=args.predictions, predictions_evaluated=out['num_predictions'],
                  tiou=list(out['mAP']), read_json_s=round(read_s, 3), evaluate_s=round(min(times), 3),
                  evaluate_all_s=[round(t, 3) for t in times], total_s=round(read_s + min(times), 3),
                  average_mAP=out['average_mAP'], reference_pandas_evaluator_s=18.0)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
