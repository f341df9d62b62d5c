"""AVA frame mAP on hand-made cases: official semantics (exclusions on both sides, AP 0 without detections,
classes without ground truth skipped, VOC matching), CSV round trip and the CLI."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks.ava.metric import AVAFrameMAP, category_of, evaluate_files, frame_map, read_ava_csv, write_ava_csv

ROOT = Path(__file__).resolve().parents[2]
A, B, C = (0.1, 0.1, 0.4, 0.9), (0.5, 0.1, 0.9, 0.9), (0.0, 0.0, 0.2, 0.2)


def test_gt_as_predictions_scores_one_even_with_excluded_ground_truth():
    gt = {'v,0902': [(A, 12, 1.), (A, 17, 1.)], 'v,0903': [(B, 12, 1.)], 'v,0904': [(B, 64, 1.)]}
    dets = {k: v for k, v in gt.items() if k != 'v,0903'}  # the dataset never yields the excluded frame
    out = frame_map(gt, dets, [12, 17, 64], excluded={'v,0903'})
    assert out['mAP'] == 1.0 and out['per_class'] == {12: 1.0, 17: 1.0, 64: 1.0}
    # counting the excluded ground truth (mmaction2's AVAMetric) would give recall 1/2 for class 12
    assert frame_map(gt, dets, [12, 17, 64])['per_class'][12] == 0.5


def test_hand_computed_ap_with_a_false_positive():
    gt = {'v,0902': [(A, 12, 1.)], 'v,0905': [(B, 12, 1.)]}
    dets = {'v,0902': [(A, 12, .9), (C, 12, .8)], 'v,0905': [(B, 12, .7)]}
    # ranked: TP(.9) FP(.8) TP(.7): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = .5 * 1 + .5 * 2/3
    assert frame_map(gt, dets, [12])['per_class'][12] == pytest.approx(0.5 + 1 / 3)


def test_duplicate_detection_is_a_false_positive_and_iou_threshold_is_inclusive():
    gt = {'v,0902': [((0., 0., 1., 1.), 12, 1.)]}
    half = (0., 0., 0.5, 1.)  # IoU exactly 0.5
    out = frame_map(gt, {'v,0902': [(half, 12, .9), ((0., 0., 1., 1.), 12, .8)]}, [12])
    assert out['per_class'][12] == 1.0  # first (IoU .5) is a TP; the second finds its box taken -> FP after it
    out = frame_map(gt, {'v,0902': [((0., 0., .49, 1.), 12, .9)]}, [12])
    assert out['per_class'][12] == 0.0


def test_classes_without_detections_score_zero_and_without_gt_are_skipped():
    gt = {'v,0902': [(A, 12, 1.), (B, 80, 1.)]}
    dets = {'v,0902': [(A, 12, .9), (B, 17, .9)], 'w,0902': [(A, 1, .3)]}
    out = frame_map(gt, dets, [1, 12, 17, 80])
    assert out['per_class'] == {12: 1.0, 80: 0.0}  # 17 and 1: no ground truth -> skipped
    assert out['mAP'] == 0.5
    assert out['categories'] == {'PERSON_MOVEMENT': 1.0, 'PERSON_INTERACTION': 0.0}


def test_detections_in_excluded_frames_and_outside_whitelist_are_ignored():
    gt = {'v,0902': [(A, 12, 1.)], 'v,0903': [(A, 12, 1.)]}
    dets = {'v,0902': [(A, 12, .5), (A, 13, .9)], 'v,0903': [(C, 12, .99)]}
    assert frame_map(gt, dets, [12], excluded={'v,0903'})['per_class'] == {12: 1.0}
    assert frame_map(gt, dets, [12])['per_class'][12] < 1.0


def test_at_most_50_detections_per_frame():
    gt = {'v,0902': [(A, 12, 1.)]}
    dets = {'v,0902': [(C, 12, .9)] * 50 + [(A, 12, .1)]}  # the TP is the 51st by score
    assert frame_map(gt, dets, [12])['per_class'][12] == 0.0
    assert frame_map(gt, dets, [12], capacity=0)['per_class'][12] == pytest.approx(1 / 51)


def test_categories():
    assert [category_of(i) for i in (1, 14, 15, 63, 64, 80)] == ['PERSON_MOVEMENT'] * 2 + ['OBJECT_MANIPULATION'] * 2 \
        + ['PERSON_INTERACTION'] * 2


def _files(tmp_path):
    (tmp_path / 'gt.csv').write_text('v,0902,0.100,0.100,0.400,0.900,12,0\nv,0902,0.100,0.100,0.400,0.900,17,0\n'
                                     'v,0903,0.500,0.100,0.900,0.900,12,1\nv,0904,0.500,0.100,0.900,0.900,69,1\n'
                                     'v,0904,0.500,0.100,0.900,0.900,3,1\n')
    (tmp_path / 'ex.csv').write_text('v,0903\n')
    (tmp_path / 'map.pbtxt').write_text(''.join(f'item {{\n  name: "c{i}"\n  id: {i}\n}}\n' for i in (12, 17, 69)))
    return tmp_path / 'gt.csv', tmp_path / 'ex.csv', tmp_path / 'map.pbtxt'


@pytest.mark.slow
def test_metric_writes_official_csv_and_cli_agrees(tmp_path):
    gt, ex, lm = _files(tmp_path)
    metric = AVAFrameMAP(ann_file=str(gt), label_file=str(lm), exclude_file=str(ex), out_csv=str(tmp_path / 'p.csv'))
    scores = np.zeros((1, 81))
    scores[0, [12, 17]] = [.9, .8]
    s2 = np.zeros((2, 81))
    s2[0, 69], s2[1, 69] = .3, .6
    metric.process({}, [dict(video_id='v', timestamp=902, pred_instances=dict(bboxes=np.array([A]), scores=scores)),
                        dict(video_id='v', timestamp=904,
                             pred_instances=dict(bboxes=np.array([B, C]), scores=s2))])
    res = metric.evaluate(2)
    # 69: ranked FP(.6) TP(.3): AP = 1 * 1/2; 12, 17: 1.0; 3 is not in the label map
    assert res['ava/AP@69'] == pytest.approx(0.5) and res['ava/AP@12'] == 1.0 and res['ava/AP@17'] == 1.0
    assert res['ava/mAP'] == pytest.approx(2.5 / 3)
    assert res['ava/PERSON_INTERACTION'] == pytest.approx(0.5)
    assert len(read_ava_csv(str(tmp_path / 'p.csv'), with_score=True)) == 2
    out = subprocess.run([sys.executable, ROOT / 'tools/analysis/eval_ava.py', gt, tmp_path / 'p.csv', '--label-map',
                          lm, '--exclude', ex], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    assert '2/2' in out.stderr  # progress bar over the detected frames, on stderr
    js = json.loads(out.stdout)
    assert js['mAP'] == pytest.approx(res['ava/mAP'])
    assert js['per_class'] == {'12': 1.0, '17': 1.0, '69': pytest.approx(0.5)}


def test_gt_file_fed_back_as_predictions(tmp_path):
    gt, ex, lm = _files(tmp_path)
    rows = [(k.split(',')[0], int(k.split(',')[1]), box, c, 1.0) for k, v in read_ava_csv(str(gt)).items()
            for box, c, _ in v]
    write_ava_csv(str(tmp_path / 'p.csv'), rows)
    assert evaluate_files(str(gt), str(tmp_path / 'p.csv'), str(lm), str(ex))['mAP'] == 1.0
    assert math.isclose(evaluate_files(str(gt), str(tmp_path / 'p.csv'), str(lm))['mAP'], 1.0)


def _official_map(gt_rows, det_rows, class_ids, capacity=50):
    """A direct re-implementation of the official pipeline from its description (ActivityNet
    get_ava_performance.py + the TF Pascal evaluator): per-frame heaps of (score, action, y1, x1, y2, x2),
    per-image arrays in [y1, x1, y2, x2], invalid boxes dropped, per-class VOC matching, and the ranking
    ``np.argsort(scores)[::-1]`` over all frames. Rows are (frame, x1, y1, x2, y2, action, score)."""
    import heapq
    from collections import defaultdict

    def read(rows, cap):
        heaps = defaultdict(list)
        for frame, x1, y1, x2, y2, a, s in rows:
            if a not in class_ids:
                continue
            h = heaps[frame]
            if cap < 1 or len(h) < cap:
                heapq.heappush(h, (s, a, y1, x1, y2, x2))
            elif s > h[0][0]:
                heapq.heapreplace(h, (s, a, y1, x1, y2, x2))
        out = {}
        for frame, h in heaps.items():
            e = sorted(h, key=lambda t: -t[0])
            out[frame] = (np.array([t[2:] for t in e], float).reshape(-1, 4), np.array([t[1] for t in e]),
                          np.array([t[0] for t in e], float))
        return out

    gt, dets = read(gt_rows, 0), read(det_rows, capacity)
    num_gt = {c: sum(int((g[1] == c).sum()) for g in gt.values()) for c in class_ids}
    scores, tps = defaultdict(list), defaultdict(list)
    for frame, (boxes, labels, sc) in dets.items():
        valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        boxes, labels, sc = boxes[valid], labels[valid], sc[valid]
        gboxes, glabels, _ = gt.get(frame, (np.zeros((0, 4)), np.zeros(0, int), None))
        for c in class_ids:
            d, s, g = boxes[labels == c], sc[labels == c], gboxes[glabels == c]
            if len(d) == 0:
                continue
            tp = np.zeros(len(d), bool)
            if len(g):
                ih = np.maximum(0, np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0]))
                iw = np.maximum(0, np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1]))
                inter = ih * iw
                area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
                iou = inter / (area(d)[:, None] + area(g)[None, :] - inter)
                seen = np.zeros(len(g), bool)
                for i, j in enumerate(iou.argmax(1)):
                    if iou[i, j] >= 0.5 and not seen[j]:
                        tp[i] = seen[j] = True
            scores[c].append(s)
            tps[c].append(tp)
    aps = {}
    for c in class_ids:
        if num_gt[c] == 0:
            continue
        if not scores[c]:
            aps[c] = 0.0
            continue
        s, t = np.concatenate(scores[c]), np.concatenate(tps[c])
        order = np.argsort(s)[::-1]
        t = t[order].astype(float)
        prec = np.cumsum(t) / (np.cumsum(t) + np.cumsum(1 - t))
        rec = np.concatenate([[0], np.cumsum(t) / num_gt[c], [1]])
        prec = np.concatenate([[0], prec, [0]])
        for i in range(len(prec) - 2, -1, -1):
            prec[i] = max(prec[i], prec[i + 1])
        idx = np.where(rec[1:] != rec[:-1])[0] + 1
        aps[c] = float(np.sum((rec[idx] - rec[idx - 1]) * prec[idx]))
    return aps


def _tied_case(seed, frames=12, dets_per_frame=70, invalid=0.0):
    """Few distinct scores (4 decimals like mmaction2's csv writer, and coarser), > 50 detections per frame,
    boxes repeated with other classes, a fraction ``invalid`` of boxes with x1 >= x2."""
    rng = np.random.default_rng(seed)
    classes = [12, 17, 69]
    gt_rows, det_rows = [], []
    for f in range(frames):
        frame = f'v{f % 3},{902 + f:04d}'
        gts = [tuple(np.round(np.sort(rng.uniform(0, 1, 2)), 3)) for _ in range(4)]
        gts = [(x1, y1, min(x1 + .3, 1.), min(y1 + .4, 1.)) for x1, y1 in gts]
        for box in gts:
            gt_rows.append((frame, *box, int(rng.choice(classes)), 1.0))
        for _ in range(dets_per_frame):
            box = gts[rng.integers(len(gts))]
            if rng.random() < .3:
                box = (box[0], box[1], box[0] + rng.uniform(.2, .5), box[1] + rng.uniform(.2, .5))
            if rng.random() < invalid:
                box = (box[2], box[1], box[0], box[3])
            score = round(float(rng.choice([.1, .25, .5, .75, .9])) + float(rng.integers(0, 3)) * 1e-4, 4)
            det_rows.append((frame, *box, int(rng.choice(classes + [5])), score))
    return gt_rows, det_rows, classes


def _frames(rows):
    out = {}
    for frame, x1, y1, x2, y2, a, s in rows:
        out.setdefault(frame, []).append(((x1, y1, x2, y2), a, s))
    return out


@pytest.mark.parametrize('seed,invalid', [(s, 0.0) for s in range(4)] + [(s, 0.1) for s in range(4, 6)])
def test_tied_scores_follow_the_official_order_exactly(seed, invalid):
    gt_rows, det_rows, classes = _tied_case(seed, invalid=invalid)
    expected = _official_map(gt_rows, det_rows, classes)
    got = frame_map(_frames(gt_rows), _frames(det_rows), classes)['per_class']
    assert got.keys() == expected.keys()
    for c in classes:
        assert got[c] == expected[c], c  # exact: same order, same arithmetic


def test_heap_keeps_the_official_rows_at_the_capacity_boundary():
    from tasks.ava.metric import official_frame_order
    # 3 rows tied at the lowest kept score: a full heap (capacity 2) only takes strictly higher scores, and its
    # minimum is decided by (action, y1, x1, ...): the row with the smaller action id leaves first
    rows = [(A, 17, .5), (B, 12, .5), (C, 12, .9)]
    assert official_frame_order(rows, capacity=2) == [(C, 12, .9), (A, 17, .5)]
    assert official_frame_order(rows, capacity=0)[0] == (C, 12, .9)
    assert official_frame_order([(A, 12, .5), (B, 12, .5)], 1) == [(A, 12, .5)]  # equal score: not replaced


def test_prediction_csv_round_trips_scores_exactly(tmp_path):
    scores = [np.float32(1 / 3), np.float32(0.12345678), 0.1 + 0.2]
    rows = [('v', 902, (0.1, 0.2, 0.30000001, 0.4), 12, float(s)) for s in scores]
    write_ava_csv(str(tmp_path / 'p.csv'), rows)
    read = read_ava_csv(str(tmp_path / 'p.csv'), with_score=True)['v,0902']
    assert [e[2] for e in read] == [float(s) for s in scores]
    assert read[0][0] == (0.1, 0.2, 0.30000001, 0.4)
