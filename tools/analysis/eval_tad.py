"""Evaluate temporal action detections in ActivityNet JSON format: mAP at tIoU thresholds and their average,
with the ActivityNet evaluator's semantics (see tasks/tad/metric.py for the exact rules).

    python tools/analysis/eval_tad.py GT_JSON PRED_JSON --subset NAME [--tiou T ...] [--per-class]

Prints JSON: {"mAP": {"0.5": value, ...}, "average_mAP": value} (fractions in [0, 1]); --per-class adds the AP of
every class. Defaults to the THUMOS14 thresholds 0.3:0.1:0.7; --tiou activitynet gives 0.5:0.05:0.95.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _bootstrap  # noqa: E402,F401

from tasks.tad.metric import evaluate_files  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('gt_json', help='ground truth: {"database": {video: {"subset", "annotations": [...]}}}')
    parser.add_argument('pred_json', help='predictions: {"results": {video: [{"segment", "label", "score"}]}}')
    parser.add_argument('--subset', required=True, help='subset of the ground truth to evaluate, e.g. validation')
    parser.add_argument('--tiou', nargs='+', default=['thumos14'],
                        help='tIoU thresholds, or one preset: thumos14 (0.3:0.1:0.7, default), activitynet')
    parser.add_argument('--remove-duplicates', action='store_true',
                        help='drop repeated and zero-length ground-truth segments (OpenTAD / ActionFormer)')
    parser.add_argument('--tie-order', choices=['numpy', 'pandas', 'stable'], default='numpy',
                        help='order of equal scores (numpy: ActivityNet / ActionFormer / OpenTAD code)')
    parser.add_argument('--per-class', action='store_true', help='also print the AP of every class')
    args = parser.parse_args(argv)
    if len(args.tiou) == 1 and not args.tiou[0].replace('.', '', 1).isdigit():
        tious = args.tiou[0]
    else:
        try:
            tious = [float(t) for t in args.tiou]
        except ValueError:
            parser.error(f'--tiou: numbers or one preset name, got {args.tiou}')
    try:
        out = evaluate_files(args.gt_json, args.pred_json, args.subset, tious, args.remove_duplicates,
                             args.tie_order)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    result = dict(mAP=out['mAP'], average_mAP=out['average_mAP'])
    if args.per_class:
        result['per_class'] = out['per_class']
    ign = out['ignored']
    print(f'{out["num_gt"]} ground-truth segments, {out["num_predictions"]} predictions evaluated; ignored '
          f'{ign["predictions"]} predictions of {ign["videos"]} videos outside the subset and {ign["unknown_label"]} '
          'with a label without ground truth', file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
