"""TAD mAP: hand-made cases, exact equality with a direct per-prediction loop of the reference semantics on random
cases with many ties, the readers' errors, the MMEngine metric (repeats from distributed padding) and the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement, InstanceData

from tasks.tad.metric import (ANET_TIOUS, THUMOS14_TIOUS, TADmAP, detection_map, evaluate_files, rank_by_score,
                              read_ground_truth, read_predictions, tiou_key, write_predictions)

ROOT = Path(__file__).resolve().parents[2]


def gt_json(videos, subset='test'):
    """videos: {vid: [(start, end, label), ...]} -> ActivityNet-format dict."""
    return dict(database={v: dict(subset=subset, duration=100.0,
                                  annotations=[dict(segment=[s, e], label=lab) for s, e, lab in anns])
                          for v, anns in videos.items()})


def preds(videos):
    """videos: {vid: [(start, end, label, score), ...]} -> read_predictions() output."""
    return read_predictions(dict(results={v: [dict(segment=[s, e], label=lab, score=sc) for s, e, lab, sc in p]
                                          for v, p in videos.items()}))


def run(gt, pr, thr=(0.5,), **kw):
    return detection_map(read_ground_truth(gt_json(gt), 'test'), preds(pr), thr, **kw)


# ---------------------------------------------------------------------------------------------------------------
# Direct loop implementation of the reference semantics (one prediction at a time), used as the oracle.
# ---------------------------------------------------------------------------------------------------------------
def loop_map(db, results, subset, thresholds, tie_order='numpy'):
    labels, gt_rows, subset_videos = {}, [], set()
    for vid, v in db['database'].items():
        if v['subset'] != subset:
            continue
        subset_videos.add(vid)
        for a in v['annotations']:
            labels.setdefault(a['label'], len(labels))
            gt_rows.append((vid, float(a['segment'][0]), float(a['segment'][1]), labels[a['label']]))
    pred_rows = [(vid, float(r['segment'][0]), float(r['segment'][1]), labels[r['label']], float(r['score']))
                 for vid, rows in results['results'].items() if vid in subset_videos
                 for r in rows if r['label'] in labels]
    ap = np.zeros((len(thresholds), len(labels)))
    for c in range(len(labels)):
        g = [r for r in gt_rows if r[3] == c]
        p = [r for r in pred_rows if r[3] == c]
        if not p:
            continue
        p = [p[i] for i in rank_by_score(np.array([r[4] for r in p]), tie_order)]
        lock = -np.ones((len(thresholds), len(g)))
        tp = np.zeros((len(thresholds), len(p)))
        fp = np.zeros((len(thresholds), len(p)))
        for idx, (vid, s, e, _, _) in enumerate(p):
            gi = [k for k, r in enumerate(g) if r[0] == vid]
            if not gi:
                fp[:, idx] = 1
                continue
            cs = np.array([g[k][1] for k in gi])
            ce = np.array([g[k][2] for k in gi])
            inter = (np.minimum(e, ce) - np.maximum(s, cs)).clip(0)
            tiou = inter.astype(float) / ((ce - cs) + (e - s) - inter)
            for t, th in enumerate(thresholds):
                for j in tiou.argsort()[::-1]:
                    if tiou[j] < th:
                        fp[t, idx] = 1
                        break
                    if lock[t, gi[j]] >= 0:
                        continue
                    tp[t, idx] = 1
                    lock[t, gi[j]] = idx
                    break
                if fp[t, idx] == 0 and tp[t, idx] == 0:
                    fp[t, idx] = 1
        for t in range(len(thresholds)):
            tpc, fpc = np.cumsum(tp[t]).astype(float), np.cumsum(fp[t]).astype(float)
            rec, prec = tpc / float(len(g)), tpc / (tpc + fpc)
            mprec, mrec = np.hstack([[0], prec, [0]]), np.hstack([[0], rec, [1]])
            for i in range(len(mprec) - 1)[::-1]:
                mprec[i] = max(mprec[i], mprec[i + 1])
            idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
            ap[t, c] = np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])
    return ap


def random_case(rng, n_videos=6, n_classes=4, n_pred=300, grid=12):
    """Integer grid segments and few distinct scores: many tied scores, tied tIoUs and overlapping GT."""
    labels = [f'c{i}' for i in range(n_classes)]
    db = {}
    for v in range(n_videos):
        anns = []
        for _ in range(rng.integers(0, 12)):
            s = int(rng.integers(0, grid))
            anns.append(dict(segment=[s, s + int(rng.integers(1, 5))], label=labels[rng.integers(0, n_classes)]))
        db[f'v{v}'] = dict(subset='test' if v < n_videos - 1 else 'train', annotations=anns)
    if not any(a for v in db.values() if v['subset'] == 'test' for a in v['annotations']):
        db['v0']['annotations'].append(dict(segment=[0, 3], label='c0'))
    results = {}
    for _ in range(n_pred):
        v = f'v{rng.integers(0, n_videos + 1)}'  # v{n_videos}: not in the ground truth at all
        s = int(rng.integers(0, grid))
        results.setdefault(v, []).append(dict(segment=[s, s + int(rng.integers(0, 5))],
                                              label=['c0', 'c1', 'c2', 'c3', 'zz'][rng.integers(0, 5)],
                                              score=float(rng.integers(1, 6)) / 10))
    return dict(database=db), dict(results=results)


@pytest.mark.parametrize('seed', range(12))
@pytest.mark.parametrize('tie_order', ['numpy', 'pandas', 'stable'])
def test_equals_direct_loop_on_random_cases_with_ties(seed, tie_order):
    rng = np.random.default_rng(seed)
    db, results = random_case(rng, n_pred=int(rng.integers(20, 400)))
    thr = np.array(ANET_TIOUS + THUMOS14_TIOUS)
    out = detection_map(read_ground_truth(db, 'test'), read_predictions(results), thr, tie_order=tie_order)
    expect = loop_map(db, results, 'test', thr, tie_order)
    np.testing.assert_array_equal(out['ap'], expect)  # exact, not approximate
    assert out['average_mAP'] == expect.mean(axis=1).mean()


def test_rank_tie_orders():
    s = np.array([.5, .9, .5, .5, .9])
    np.testing.assert_array_equal(rank_by_score(s, 'numpy'), np.argsort(s)[::-1])
    np.testing.assert_array_equal(rank_by_score(s, 'pandas'), [1, 4, 0, 2, 3])  # stable descending for small n
    np.testing.assert_array_equal(rank_by_score(s, 'stable'), [1, 4, 0, 2, 3])
    big = np.round(np.random.default_rng(0).random(500), 1)  # 500 scores, 11 values: introsort / SIMD territory
    order = rank_by_score(big, 'stable')
    assert (np.diff(big[order]) <= 0).all() and all((np.diff(order[big[order] == v]) > 0).all() for v in set(big))
    with pytest.raises(ValueError, match='tie_order'):
        rank_by_score(s, 'mergesort')


# ---------------------------------------------------------------------------------------------------------------
# Hand-made cases
# ---------------------------------------------------------------------------------------------------------------
def test_ground_truth_as_predictions_gives_one():
    gt = {'a': [(1, 5, 'run'), (10, 20, 'jump')], 'b': [(3, 4, 'run')]}
    out = run(gt, {v: [(s, e, lab, .9) for s, e, lab in anns] for v, anns in gt.items()}, THUMOS14_TIOUS)
    assert out['average_mAP'] == 1.0 and set(out['mAP']) == {'0.3', '0.4', '0.5', '0.6', '0.7'}


def test_hand_computed_ap_with_a_false_positive_between():
    gt = {'a': [(0, 10, 'x')], 'b': [(0, 10, 'x')]}
    out = run(gt, {'a': [(0, 10, 'x', .9), (50, 60, 'x', .8)], 'b': [(0, 10, 'x', .7)]})
    # TP FP TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3
    assert out['mAP']['0.5'] == pytest.approx(0.5 + 1 / 3)


def test_duplicate_prediction_is_a_false_positive_and_threshold_is_inclusive():
    gt = {'a': [(0, 10, 'x')]}
    out = run(gt, {'a': [(0, 5, 'x', .9), (0, 10, 'x', .8)]}, (0.5, 0.6))
    # first: tIoU exactly .5 -> TP at 0.5 (>=); the exact copy after it finds the GT taken -> FP
    assert out['mAP'] == {'0.5': 1.0, '0.6': 0.5}
    out = run(gt, {'a': [(0, 10, 'x', .9), (0, 10, 'x', .9)]})
    assert out['mAP']['0.5'] == 1.0  # duplicate ranked second: precision stays 1 at recall 1


def test_class_without_predictions_counts_zero_and_empty_predictions_are_zero_not_nan():
    gt = {'a': [(0, 10, 'x'), (20, 30, 'y')]}
    out = run(gt, {'a': [(0, 10, 'x', .9)]})
    assert out['mAP']['0.5'] == 0.5 and out['labels'] == ['x', 'y']
    for empty in ({}, {'a': []}):
        out = run(gt, empty)
        assert out['mAP']['0.5'] == 0.0 and out['average_mAP'] == 0.0


def test_overlapping_ground_truth_takes_highest_tiou_then_next_free():
    gt = {'a': [(0, 10, 'x'), (4, 14, 'x')]}
    # p1 overlaps both (tIoU 8/14 with #1, 10/12 with #2) -> takes #2; p2 then only has #1 (tIoU .6) -> TP at .5
    out = run(gt, {'a': [(2, 14, 'x', .9), (0, 6, 'x', .8)]}, (0.5, 0.7))
    assert out['mAP'] == {'0.5': 1.0, '0.7': 0.5}
    # a second copy of p1 finds #2 taken and falls back to #1 (8/14 >= .5: TP), but not at .7 -> FP
    out = run(gt, {'a': [(2, 14, 'x', .9), (2, 14, 'x', .8)]}, (0.5, 0.7))
    assert out['mAP'] == {'0.5': 1.0, '0.7': 0.5}


def test_predictions_for_other_videos_and_labels_are_ignored_and_counted():
    gt = {'a': [(0, 10, 'x')]}
    base = run(gt, {'a': [(0, 10, 'x', .5)]})
    noisy = run(gt, {'zz': [(0, 10, 'x', .99)] * 3, 'a': [(0, 10, 'x', .5), (0, 10, 'nope', .99)]})
    assert noisy['ap'].tolist() == base['ap'].tolist() == [[1.0]]
    assert noisy['ignored'] == dict(videos=1, predictions=3, unknown_label=1) and noisy['num_predictions'] == 1


def test_only_the_named_subset_counts():
    db = gt_json({'a': [(0, 10, 'x')]})
    db['database']['t'] = dict(subset='train', annotations=[dict(segment=[0, 10], label='y')])
    gt = read_ground_truth(db, 'test')
    assert gt.videos == ['a'] and gt.labels == ['x']


def test_unknown_or_empty_subset_is_an_error_naming_the_subsets():
    db = gt_json({'a': [(0, 10, 'x')]}, subset='validation')
    db['database']['t'] = dict(subset='testing', annotations=[])
    with pytest.raises(ValueError, match=r"subset 'valdiation' has no videos; subsets in this file: 'validation' "
                                         r"\(1 videos, 1 segments\), 'testing' \(1 videos, 0 segments\)\. "
                                         r"Did you mean 'validation'\?"):
        read_ground_truth(db, 'valdiation')
    with pytest.raises(ValueError, match="subset 'testing' has 1 videos but no ground-truth segments"):
        read_ground_truth(db, 'testing')


def test_remove_duplicates_option():
    db = gt_json({'a': [(0, 10, 'x'), (0.0005, 10, 'x'), (0, 10, 'y'), (5, 5, 'x')]})
    gt = read_ground_truth(db, 'test', remove_duplicates=True)
    assert gt.segments.tolist() == [[0, 10], [0, 10]] and gt.labels == ['x', 'y']
    with pytest.raises(ValueError, match=r"video 'a': annotation 3: segment \[5.0, 5.0\] has end <= start"):
        read_ground_truth(db, 'test')


@pytest.mark.parametrize('bad, match', [
    ({'results': {'v1': [{'segment': [1, 2], 'label': 'x'}]}}, r"results\['v1'\]\[0\]: expected an object with"),
    ({'results': {'v1': [{'segment': [1, 2], 'label': 'x', 'score': .5}, {'segment': [3], 'label': 'x',
                                                                        'score': .5}]}},
     r"results\['v1'\]\[1\]: \"segment\" must be \[start, end\]"),
    ({'results': {'v1': [{'segment': [3, 2], 'label': 'x', 'score': .5}]}},
     r"\[0\]: segment \[3, 2\] has end < start"),
    ({'results': {'v1': [{'segment': [1, 2], 'label': 'x', 'score': 'high'}]}}, r'"score" must be a finite number'),
    ({'results': {'v1': [{'segment': [1, 2], 'label': None, 'score': 1}]}}, r'"label" must be a string'),
    ({'results': {'v1': {'segment': [1, 2]}}}, r"results\['v1'\]: expected a list"),
    ({'database': {}}, 'not ActivityNet-format predictions'),
])
def test_malformed_predictions_name_file_video_and_entry(tmp_path, bad, match):
    path = tmp_path / 'preds.json'
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=match) as e:
        read_predictions(str(path))
    assert str(path) in str(e.value)


def test_malformed_ground_truth_names_file_and_video(tmp_path):
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps({'database': {'v9': {'subset': 'test', 'annotations': [{'segment': [1, 'x'],
                                                                                        'label': 'a'}]}}}))
    with pytest.raises(ValueError, match=rf"{path}: video 'v9': annotation 0: \"segment\" must hold two numbers"):
        read_ground_truth(str(path), 'test')
    path.write_text('{"version": 1}')
    with pytest.raises(ValueError, match='not ActivityNet-format ground truth'):
        read_ground_truth(str(path), 'test')
    with pytest.raises(FileNotFoundError, match='missing.json: ground-truth file does not exist'):
        read_ground_truth(str(tmp_path / 'missing.json'), 'test')


def test_tiou_keys_and_presets():
    assert [tiou_key(t) for t in THUMOS14_TIOUS] == ['0.3', '0.4', '0.5', '0.6', '0.7']
    assert [tiou_key(t) for t in ANET_TIOUS][:3] == ['0.5', '0.55', '0.6'] and len(ANET_TIOUS) == 10
    with pytest.raises(ValueError, match='tiou_thresholds'):
        run({'a': [(0, 1, 'x')]}, {}, (0.5, 1.5))


# ---------------------------------------------------------------------------------------------------------------
# The MMEngine metric
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def gt_file(tmp_path):
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt_json({'a': [(1, 5, 'run'), (10, 20, 'jump')], 'b': [(3, 4, 'run')]})))
    return str(path)


def sample(name, segs, labels, scores, element=False):
    inst = dict(segments=torch.tensor(segs, dtype=torch.float32).reshape(-1, 2), labels=torch.tensor(labels),
                scores=torch.tensor(scores))
    if element:
        return BaseDataElement(video_name=name, pred_instances=InstanceData(**inst))
    return dict(video_name=name, pred_instances=inst)


def test_metric_from_data_samples_drops_repeated_videos_and_dumps_json(gt_file, tmp_path):
    out_file = tmp_path / 'out' / 'preds.json'
    metric = TADmAP(gt_file, 'test', tiou_thresholds=[0.5, 0.7], classes=['run', 'jump'], out_file=str(out_file),
                    per_class=True)
    metric.process({}, [sample('a', [[1, 5], [10, 20], [30, 40]], [0, 1, 1], [.9, .8, .95]),
                        sample('b', [[3, 4]], [0], [.7], element=True)])
    # distributed padding repeats the first video; a second copy must not count twice
    metric.process({}, [sample('a', [[1, 5], [10, 20], [30, 40]], [0, 1, 1], [.9, .8, .95])])
    res = metric.evaluate(3)
    assert res['tad/mAP@0.5'] == res['tad/mAP@0.7'] == pytest.approx((1 + 0.5) / 2)
    assert res['tad/AP/run'] == 1.0 and res['tad/AP/jump'] == 0.5
    # the dumped file evaluates to the same numbers (float32 segments written exactly)
    cli = evaluate_files(gt_file, str(out_file), 'test', [0.5, 0.7])
    assert cli['mAP'] == {'0.5': res['tad/mAP@0.5'], '0.7': res['tad/mAP@0.7']}
    assert len(json.loads(out_file.read_text())['results']['a']) == 3


def test_metric_fails_early_and_names_problems(gt_file):
    with pytest.raises(ValueError, match="subset 'val' has no videos"):
        TADmAP(gt_file, 'val')
    metric = TADmAP(gt_file, 'test')
    with pytest.raises(KeyError, match="no 'video_name'"):
        metric.process({}, [dict(pred_instances={})])
    metric.process({}, [sample('a', [[1, 5]], [0], [.9])])
    with pytest.raises(ValueError, match='class names are unknown'):
        metric.compute_metrics(metric.results)
    metric.dataset_meta = dict(classes=['run'])
    metric.process({}, [sample('b', [[1, 5]], [3], [.9])])
    with pytest.raises(ValueError, match="video 'b': label index 3 outside the 1 classes"):
        metric.compute_metrics(metric.results)


def test_write_read_round_trip(tmp_path):
    p = preds({'a': [(0.1, 0.30000000000000004, 'x', 1 / 3)]})
    write_predictions(str(tmp_path / 'p.json'), p)
    back = read_predictions(str(tmp_path / 'p.json'))
    assert back['a']['segments'].tolist() == p['a']['segments'].tolist() and back['a']['scores'][0] == 1 / 3


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_prints_json(tmp_path, gt_file):
    pred = tmp_path / 'p.json'
    pred.write_text(json.dumps(dict(results={'a': [dict(segment=[1, 5], label='run', score=.9)]})))
    cmd = [sys.executable, str(ROOT / 'tools/analysis/eval_tad.py'), gt_file, str(pred), '--subset', 'test',
           '--tiou', '0.5', '0.7']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['mAP'] == {'0.5': 0.25, '0.7': 0.25} and out['average_mAP'] == 0.25  # run 1/2, jump 0
    proc = subprocess.run(cmd[:4] + ['--subset', 'tset'], capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0 and "subset 'tset' has no videos" in proc.stderr and "'test'" in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_prediction_arrays_of_different_lengths_name_the_video():
    gt = read_ground_truth(gt_json({'a': [(0, 10, 'x')]}), 'test')
    with pytest.raises(ValueError, match=r"video 'a': need segments \(N, 2\), labels \(N,\), scores \(N,\)"):
        detection_map(gt, {'a': dict(segments=np.zeros((2, 2)), labels=['x'], scores=np.ones(2))})


@pytest.mark.slow
def test_benchmark_script_runs_at_small_size(tmp_path):
    out = tmp_path / 'bench.json'
    proc = subprocess.run([sys.executable, str(ROOT / 'tools/analysis/benchmark_tad_eval.py'), '--videos', '5',
                           '--predictions', '2000', '--repeats', '1', '--out', str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res['predictions'] == 2000 and 0 < res['predictions_evaluated'] <= 2000
    assert res['evaluate_s'] > 0 and 0 < res['average_mAP'] <= 1


def test_metric_builds_from_the_registry(gt_file):
    from backbones.registry import METRICS
    metric = METRICS.build(dict(type='TADmAP', ann_file=gt_file, subset='test', tiou_thresholds='activitynet'))
    assert isinstance(metric, TADmAP) and len(metric.tiou_thresholds) == 10
