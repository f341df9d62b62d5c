"""Temporal action detection mAP at tIoU thresholds with the semantics of ActivityNet's evaluator
(``Evaluation/eval_detection.py``, also used by ActionFormer and OpenTAD), vectorised, plus the readers for the
ActivityNet JSON formats, the CLI's :func:`evaluate_files` and the MMEngine metric :class:`TADmAP`.

Semantics (the reference evaluator's, unless marked otherwise):

* Ground truth: the videos whose ``subset`` equals the named subset (exact string). The evaluated classes are
  the labels with at least one ground-truth segment there, in order of first appearance. A subset without
  videos (a typo) or without ground truth is an error naming the subsets that exist (the reference gives a NaN
  or an exception). ``remove_duplicates=True`` drops repeated (label, start, end) ground truth within 1e-3 s
  and zero-length segments, as OpenTAD / ActionFormer do; off by default, as in the reference.
* Predictions for videos outside the subset and with labels that have no ground truth in the subset are
  ignored (counted and reported). The reference counts the former as false positives and fails on the latter;
  the rule here is that of evaluating the prediction file restricted to the subset and its classes.
* Per class, predictions are ranked by score with the reference's order among ties. ActivityNet's
  ``eval_detection.py`` (master), ActionFormer and OpenTAD all rank with ``prediction['score'].values.argsort()
  [::-1]`` over the class's predictions in file order (videos in file order, each video's list in order): numpy's
  default argsort (introsort, SIMD on AVX-512: not stable) reversed; ``tie_order='numpy'`` (default) calls exactly
  that. ``tie_order='pandas'`` ranks as ``DataFrame.sort_values('score', ascending=False)`` (pandas' ``nargsort``:
  reverse, argsort, map back, reverse); ``tie_order='stable'`` keeps file order among ties (mmaction2's
  ``ActivityNetLocalization``). Ties decide which of two equal-score predictions takes a ground truth and where
  the precision/recall curve steps; scores are compared as float64 (integers in a JSON file too).
* Matching, per tIoU threshold: each prediction in rank order looks at the ground truth of its video and class
  sorted by tIoU descending (``np.argsort(tiou)[::-1]``, the reference's tie order), skips ground truth already
  matched at this threshold and takes the first remaining one whose tIoU is ``>= threshold``: a true positive;
  otherwise a false positive. tIoU is computed with the reference's operations, so values are bit-identical.
* AP: all-point interpolated (VOC 2011) over the ranked list; a class without predictions gets AP 0. mAP: mean
  over the evaluated classes, per threshold; ``average_mAP``: mean over thresholds.

Vectorisation: per (class, video) group the greedy matching iterates over lock events (one per true positive,
at most #ground truth iterations), each a numpy operation over all predictions and all thresholds at once; an
exact re-statement of the per-prediction loop (tested against one on random cases with many ties).
"""
import difflib
import json
import math
import os
import os.path as osp
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from backbones.registry import METRICS
from tasks.datasets.annotations import AnnotationError

__all__ = ['THUMOS14_TIOUS', 'ANET_TIOUS', 'GroundTruth', 'read_ground_truth', 'read_predictions',
           'write_predictions', 'segment_iou', 'detection_map', 'evaluate_files', 'TADmAP', 'load_json']

#: THUMOS14: 0.3:0.1:0.7 (as ActionFormer: ``np.linspace(0.3, 0.7, 5)``).
THUMOS14_TIOUS = tuple(float(t) for t in np.linspace(0.3, 0.7, 5))
#: ActivityNet-1.3: 0.5:0.05:0.95 (the reference evaluator's default ``np.linspace(0.5, 0.95, 10)``).
ANET_TIOUS = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
_PRESETS = dict(thumos14=THUMOS14_TIOUS, thumos=THUMOS14_TIOUS, activitynet=ANET_TIOUS, anet=ANET_TIOUS)

Predictions = Mapping[str, Mapping[str, object]]  # video -> dict(segments (N, 2), labels (N,) str, scores (N,))


def tiou_key(t: float) -> str:
    """Printable key of a threshold: ``0.5``, ``0.55``, ``0.6`` (for ``0.6000000000000001`` from linspace)."""
    return '%g' % round(float(t), 6)


def resolve_thresholds(tiou_thresholds: Union[str, Sequence[float]]) -> np.ndarray:
    """A preset name (``'thumos14'``, ``'activitynet'``) or a list of thresholds in (0, 1] -> float64 array."""
    if isinstance(tiou_thresholds, str):
        if tiou_thresholds.lower() not in _PRESETS:
            raise ValueError(f'tiou_thresholds: unknown preset {tiou_thresholds!r}; use one of {sorted(_PRESETS)} '
                             'or a list of numbers')
        tiou_thresholds = _PRESETS[tiou_thresholds.lower()]
    thr = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if thr.size == 0 or not np.all((thr > 0) & (thr <= 1)):
        raise ValueError(f'tiou_thresholds must be numbers in (0, 1], got {list(tiou_thresholds)}')
    return thr


# ----------------------------------------------------------------------------------------------------------------
# Reading and writing
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class GroundTruth:
    """Ground-truth segments of one subset.

    Attributes:
        source (str): File it was read from (named in messages).
        subset (str): The subset.
        videos (list[str]): Videos of the subset, in file order (also those without segments).
        labels (list[str]): Evaluated classes: labels with ground truth in the subset, order of first appearance.
        video (np.ndarray): ``(M,)`` int, index into ``videos`` per segment.
        segments (np.ndarray): ``(M, 2)`` float64 start / end seconds, in file order.
        label (np.ndarray): ``(M,)`` int, index into ``labels`` per segment.
        durations (dict): video -> duration in seconds, where the file gives one.
    """
    source: str
    subset: str
    videos: List[str]
    labels: List[str]
    video: np.ndarray
    segments: np.ndarray
    label: np.ndarray
    durations: Dict[str, float] = field(default_factory=dict)


def load_json(path: str, what: str) -> object:
    """A JSON file the user gave (ground truth, predictions, annotations, a feature grid); ``what`` names it in
    the errors: ``FileNotFoundError`` for a missing file, :class:`AnnotationError` for invalid JSON."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: {what} file does not exist')
    try:
        with open(path, 'r', encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(f'{path}: not valid JSON ({e})') from None


def _label_text(label, where: str) -> str:
    if isinstance(label, str):
        return label
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return str(int(label))
    raise ValueError(f'{where}: "label" must be a string (or an integer id), got {label!r}')


def _segment(seg, where: str) -> Tuple[float, float]:
    if not isinstance(seg, (list, tuple)) or len(seg) != 2:
        raise ValueError(f'{where}: "segment" must be [start, end] in seconds, got {seg!r}')
    try:
        s, e = float(seg[0]), float(seg[1])
    except (TypeError, ValueError):
        raise ValueError(f'{where}: "segment" must hold two numbers, got {seg!r}') from None
    if not (math.isfinite(s) and math.isfinite(e)):
        raise ValueError(f'{where}: "segment" {seg!r} is not finite')
    return s, e


def read_ground_truth(source: Union[str, dict], subset: str, remove_duplicates: bool = False,
                      tol: float = 1e-3) -> GroundTruth:
    """Read one subset of an ActivityNet-format ground-truth JSON.

    Format: ``{"database": {video: {"subset": str, "duration": float (optional),
    "annotations": [{"segment": [start, end], "label": str}, ...]}}}`` (seconds).

    Args:
        source (str | dict): JSON file, or its parsed content (then named ``<ground truth>`` in messages).
        subset (str): Subset to evaluate (exact match, e.g. ``'validation'``, ``'test'``).
        remove_duplicates (bool): Drop zero-length segments and repeats of (label, start, end) within ``tol``
            seconds in a video (OpenTAD / ActionFormer cleaning). Default False (the reference keeps them, and
            a zero-length segment is then an error).
        tol (float): Tolerance for duplicates, seconds.

    Returns:
        GroundTruth: see its attributes.

    Raises:
        ValueError: malformed file / video / annotation (named), or a subset without videos or ground truth
            (the message lists the subsets that exist).
    """
    path = source if isinstance(source, str) else '<ground truth>'
    data = load_json(source, 'ground-truth') if isinstance(source, str) else source
    if not isinstance(data, dict) or not isinstance(data.get('database'), dict):
        raise ValueError(f'{path}: not ActivityNet-format ground truth: expected {{"database": {{video: {{"subset", '
                         '"annotations": [{"segment", "label"}]}}}}}}')
    subsets: Counter = Counter()
    annotated: Counter = Counter()
    videos, labels, vid_idx, segs, lab_idx, durations = [], {}, [], [], [], {}
    for vid, v in data['database'].items():
        where = f'{path}: video {vid!r}'
        if not isinstance(v, dict) or not isinstance(v.get('subset'), str):
            raise ValueError(f'{where}: expected an object with a "subset" string')
        subsets[v['subset']] += 1
        anns = v.get('annotations', [])
        if not isinstance(anns, list):
            raise ValueError(f'{where}: "annotations" must be a list')
        annotated[v['subset']] += len(anns)
        if v['subset'] != subset:
            continue
        if v.get('duration') is not None:
            try:
                durations[vid] = float(v['duration'])
            except (TypeError, ValueError):
                raise ValueError(f'{where}: "duration" must be a number, got {v["duration"]!r}') from None
        vi = len(videos)
        videos.append(vid)
        kept: List[Tuple[float, float, str]] = []
        for k, ann in enumerate(anns):
            w = f'{where}: annotation {k}'
            if not isinstance(ann, dict) or 'segment' not in ann or 'label' not in ann:
                raise ValueError(f'{w}: expected an object with "segment" and "label", got {ann!r}')
            s, e = _segment(ann['segment'], w)
            label = _label_text(ann['label'], w)
            if e < s or (e == s and not remove_duplicates):
                raise ValueError(f'{w}: segment [{s}, {e}] has end <= start'
                                 + ('' if e < s else ' (remove_duplicates=True drops zero-length segments)'))
            if remove_duplicates and (e == s or any(lab == label and abs(s - ps) <= tol and abs(e - pe) <= tol
                                                    for ps, pe, lab in kept)):
                continue
            kept.append((s, e, label))
            vid_idx.append(vi)
            segs.append((s, e))
            lab_idx.append(labels.setdefault(label, len(labels)))
    if not videos or not segs:
        listing = ', '.join(f'{name!r} ({n} videos, {annotated[name]} segments)' for name, n in subsets.items())
        close = difflib.get_close_matches(subset, list(subsets), n=1, cutoff=0.5)
        hint = f' Did you mean {close[0]!r}?' if close and close[0] != subset else ''
        problem = 'has no videos' if not videos else f'has {len(videos)} videos but no ground-truth segments'
        raise ValueError(f'{path}: subset {subset!r} {problem}; subsets in this file: {listing or "none"}.{hint}')
    return GroundTruth(source=path, subset=subset, videos=videos, labels=list(labels),
                       video=np.asarray(vid_idx, dtype=np.int64), segments=np.asarray(segs, dtype=np.float64),
                       label=np.asarray(lab_idx, dtype=np.int64), durations=durations)


def _parse_video_predictions(entries, where: str) -> Dict[str, object]:
    """One video's ``[{"segment", "label", "score"}]`` -> arrays; names the first bad entry."""
    if not isinstance(entries, list):
        raise ValueError(f'{where}: expected a list of {{"segment", "label", "score"}}, got {type(entries).__name__}')
    try:  # fast path
        segments = np.array([e['segment'] for e in entries], dtype=np.float64).reshape(len(entries), 2)
        scores = np.array([e['score'] for e in entries], dtype=np.float64).reshape(len(entries))
        labels = [e['label'] for e in entries]
        ok = (all(type(lab) is str for lab in labels) and np.isfinite(segments).all() and np.isfinite(scores).all()
              and (segments[:, 1] >= segments[:, 0]).all())
    except (KeyError, TypeError, ValueError, IndexError):
        ok = False
    if not ok:  # slow path: find and name the bad entry
        segments, scores, labels = np.zeros((len(entries), 2)), np.zeros(len(entries)), []
        for k, e in enumerate(entries):
            w = f'{where}[{k}]'
            if not isinstance(e, dict) or not all(key in e for key in ('segment', 'label', 'score')):
                raise ValueError(f'{w}: expected an object with "segment", "label" and "score", got {e!r}')
            segments[k] = _segment(e['segment'], w)
            if segments[k, 1] < segments[k, 0]:
                raise ValueError(f'{w}: segment {e["segment"]!r} has end < start')
            labels.append(_label_text(e['label'], w))
            score = e['score']
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                raise ValueError(f'{w}: "score" must be a finite number, got {score!r}')
            scores[k] = score
    return dict(segments=segments, labels=labels, scores=scores)


def read_predictions(source: Union[str, dict]) -> Dict[str, Dict[str, object]]:
    """Read ActivityNet-format predictions: ``{"results": {video: [{"segment": [s, e], "label": str,
    "score": float}, ...]}}`` (seconds; other top-level keys such as ``version`` are ignored).

    Returns:
        dict: video -> ``dict(segments=(N, 2) float64, labels=list[str] (N), scores=(N,) float64)``, in file order.

    Raises:
        ValueError: naming the file, the video and the entry that is malformed.
    """
    path = source if isinstance(source, str) else '<predictions>'
    data = load_json(source, 'prediction') if isinstance(source, str) else source
    if not isinstance(data, dict) or not isinstance(data.get('results'), dict):
        raise ValueError(f'{path}: not ActivityNet-format predictions: expected {{"results": {{video: [{{"segment", '
                         '"label", "score"}}]}}}}')
    return {vid: _parse_video_predictions(entries, f'{path}: results[{vid!r}]')
            for vid, entries in data['results'].items()}


def write_predictions(path: str, predictions: Predictions, version: str = 'VideoFM') -> None:
    """Write predictions (as returned by :func:`read_predictions`) as ActivityNet-format JSON, atomically.
    Numbers are written with the shortest repr that reads back to the same float64."""
    results = {}
    for vid, p in predictions.items():
        segs = np.asarray(p['segments'], dtype=np.float64).reshape(-1, 2).tolist()
        scores = np.asarray(p['scores'], dtype=np.float64).reshape(-1).tolist()
        results[vid] = [dict(segment=s, label=str(lab), score=sc) for s, lab, sc in zip(segs, p['labels'], scores)]
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(dict(version=version, results=results, external_data={}), f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------
def segment_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Pairwise temporal IoU with the reference's floating-point operations.

    Args:
        pred (np.ndarray): ``(P, 2)`` start / end.
        gt (np.ndarray): ``(G, 2)`` start / end.

    Returns:
        np.ndarray: ``(P, G)`` float64 tIoU.
    """
    inter = (np.minimum(pred[:, None, 1], gt[None, :, 1]) - np.maximum(pred[:, None, 0], gt[None, :, 0])).clip(0)
    union = (gt[None, :, 1] - gt[None, :, 0]) + (pred[:, None, 1] - pred[:, None, 0]) - inter
    return inter.astype(float) / union


def rank_by_score(scores: np.ndarray, tie_order: str = 'numpy') -> np.ndarray:
    """Indices of ``scores`` from the highest score down, with the reference's order among ties.

    Args:
        scores (np.ndarray): ``(N,)`` float64.
        tie_order (str): ``'numpy'``: ``np.argsort(scores)[::-1]`` (ActivityNet / ActionFormer / OpenTAD);
            ``'pandas'``: ``sort_values(ascending=False)`` (pandas' ``nargsort``); ``'stable'``: ties in input order
            (mmaction2's ``ActivityNetLocalization``: ``list.sort(key=lambda x: -x['score'])``).
    """
    if tie_order == 'numpy':
        return np.argsort(scores)[::-1]
    if tie_order == 'pandas':
        back = np.arange(len(scores))[::-1]
        return back[np.argsort(scores[::-1])][::-1]
    if tie_order == 'stable':
        return np.argsort(-scores, kind='stable')
    raise ValueError(f"tie_order must be 'numpy', 'pandas' or 'stable', got {tie_order!r}")


def match_group(pred: np.ndarray, gt: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Greedy matching of one (video, class) group at every threshold, exactly as the per-prediction loop.

    Iterates over lock events: with the current matched set, the next true positive is the first remaining
    prediction with an unmatched ground truth at tIoU >= threshold; predictions before it are false positives.
    At most ``min(P, G)`` iterations, each vectorised over predictions and thresholds.

    Args:
        pred (np.ndarray): ``(P, 2)`` predictions of the group, in rank order.
        gt (np.ndarray): ``(G, 2)`` ground truth of the group, in file order.
        thresholds (np.ndarray): ``(T,)`` tIoU thresholds.

    Returns:
        np.ndarray: ``(T, P)`` bool, True where the prediction is a true positive.
    """
    num_t, num_p = len(thresholds), len(pred)
    iou = segment_iou(pred, gt)                                   # (P, G)
    prefer = np.argsort(iou, axis=1)[:, ::-1]                     # (P, G) the reference's GT order per prediction
    hit = iou[None] >= thresholds[:, None, None]                  # (T, P, G)
    free = hit.sum(-1)                                            # (T, P) unmatched candidates per prediction
    matched = np.zeros((num_t, gt.shape[0]), dtype=bool)          # (T, G)
    tp = np.zeros((num_t, num_p), dtype=bool)
    start = np.zeros(num_t, dtype=np.int64)
    positions = np.arange(num_p)
    while True:
        ready = (free > 0) & (positions[None] >= start[:, None])  # (T, P)
        todo = np.flatnonzero(ready.any(1))
        if todo.size == 0:
            return tp
        p = ready[todo].argmax(1)                                 # first prediction that gets a match
        cand = prefer[p]                                          # (k, G) its GT in preference order
        ok = hit[todo[:, None], p[:, None], cand] & ~matched[todo[:, None], cand]
        j = cand[np.arange(todo.size), ok.argmax(1)]              # first free candidate: the one it locks
        tp[todo, p] = True
        matched[todo, j] = True
        free[todo] -= hit[todo, :, j]
        start[todo] = p + 1


def interpolated_ap(tp: np.ndarray, num_gt: int) -> np.ndarray:
    """All-point interpolated AP (VOC 2011) per row, with the reference's floating-point operations.

    Args:
        tp (np.ndarray): ``(T, N)`` bool, ranked predictions; every other prediction is a false positive.
        num_gt (int): Ground-truth count of the class.

    Returns:
        np.ndarray: ``(T,)`` float64.
    """
    ap = np.zeros(tp.shape[0])
    if tp.shape[1] == 0:
        return ap
    tp_cum = np.cumsum(tp, axis=1).astype(float)
    fp_cum = np.cumsum(~tp, axis=1).astype(float)
    recall = tp_cum / float(num_gt)
    precision = tp_cum / (tp_cum + fp_cum)
    for t in range(tp.shape[0]):
        mprec = np.hstack([[0], precision[t], [0]])
        mrec = np.hstack([[0], recall[t], [1]])
        mprec = np.maximum.accumulate(mprec[::-1])[::-1]
        idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
        ap[t] = np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])
    return ap


def detection_map(gt: GroundTruth, predictions: Predictions,
                  tiou_thresholds: Union[str, Sequence[float]] = THUMOS14_TIOUS, tie_order: str = 'numpy') -> dict:
    """Detection mAP of ``predictions`` against one ground-truth subset (semantics: module docstring).

    Args:
        gt (GroundTruth): From :func:`read_ground_truth`.
        predictions (Mapping): video -> ``dict(segments=(N, 2) seconds, labels=(N,) str, scores=(N,))`` (order
            matters for ties: file order).
        tiou_thresholds (str | Sequence[float]): ``'thumos14'``, ``'activitynet'`` or a list.
        tie_order (str): See :func:`rank_by_score`.

    Returns:
        dict: ``mAP`` {tiou key: mAP}, ``average_mAP``, ``ap`` ``(T, C)`` array, ``labels`` (C), ``tiou_thresholds``,
        ``num_gt`` (C,) array, ``num_predictions`` (evaluated), ``ignored`` {``videos``: predicted videos outside
        the subset, ``predictions``: their predictions, ``unknown_label``: predictions whose label has no ground
        truth in the subset}.
    """
    thr = resolve_thresholds(tiou_thresholds)
    num_c, num_v = len(gt.labels), len(gt.videos)
    vid_index = {v: i for i, v in enumerate(gt.videos)}
    lab_index = {lab: i for i, lab in enumerate(gt.labels)}
    pv, ps, pl, psc = [], [], [], []
    ignored_videos = ignored_preds = unknown_label = 0
    for vid, p in predictions.items():
        scores = np.asarray(p['scores'], dtype=np.float64).reshape(-1)
        vi = vid_index.get(vid)
        if vi is None:
            ignored_videos += 1
            ignored_preds += scores.size
            continue
        segments = np.asarray(p['segments'], dtype=np.float64)
        if segments.size == 0:
            segments = segments.reshape(0, 2)
        if segments.ndim != 2 or segments.shape[1] != 2 or not len(segments) == scores.size == len(p['labels']):
            raise ValueError(f'predictions for video {vid!r}: need segments (N, 2), labels (N,), scores (N,); got '
                             f'{segments.shape}, {len(p["labels"])} labels, {scores.size} scores')
        li = np.fromiter((lab_index.get(lab, -1) for lab in p['labels']), dtype=np.int64, count=scores.size)
        keep = li >= 0
        unknown_label += int(scores.size - keep.sum())
        pv.append(np.full(int(keep.sum()), vi, dtype=np.int64))
        ps.append(segments[keep])
        pl.append(li[keep])
        psc.append(scores[keep])
    pv = np.concatenate(pv) if pv else np.zeros(0, np.int64)
    ps = np.concatenate(ps) if ps else np.zeros((0, 2))
    pl = np.concatenate(pl) if pl else np.zeros(0, np.int64)
    psc = np.concatenate(psc) if psc else np.zeros(0)

    # ground truth grouped by (class, video), file order inside a group
    gkey = gt.label * num_v + gt.video
    gorder = np.argsort(gkey, kind='stable')
    keys, first, counts = np.unique(gkey[gorder], return_index=True, return_counts=True)
    groups = {int(k): gt.segments[gorder[f:f + n]] for k, f, n in zip(keys, first, counts)}
    num_gt = np.bincount(gt.label, minlength=num_c)

    ap = np.zeros((len(thr), num_c))
    for c in range(num_c):
        sel = np.flatnonzero(pl == c)
        if sel.size == 0:
            continue
        ranked = sel[rank_by_score(psc[sel], tie_order)]
        tp = np.zeros((len(thr), ranked.size), dtype=bool)
        videos = pv[ranked]
        vorder = np.argsort(videos, kind='stable')                # rank order kept inside each video
        vids, vfirst, vcount = np.unique(videos[vorder], return_index=True, return_counts=True)
        for v, f, n in zip(vids, vfirst, vcount):
            g = groups.get(c * num_v + int(v))
            if g is None:
                continue                                          # no ground truth of this class there: all FP
            pos = vorder[f:f + n]
            tp[:, pos] = match_group(ps[ranked[pos]], g, thr)
        ap[:, c] = interpolated_ap(tp, num_gt[c])
    mean_ap = ap.mean(axis=1)
    return dict(mAP={tiou_key(t): float(m) for t, m in zip(thr, mean_ap)}, average_mAP=float(mean_ap.mean()),
                ap=ap, labels=list(gt.labels), tiou_thresholds=thr.tolist(), num_gt=num_gt,
                num_predictions=int(psc.size),
                ignored=dict(videos=ignored_videos, predictions=ignored_preds, unknown_label=unknown_label))


def evaluate_files(gt_json: str, pred_json: str, subset: str,
                   tiou_thresholds: Union[str, Sequence[float]] = THUMOS14_TIOUS, remove_duplicates: bool = False,
                   tie_order: str = 'numpy') -> dict:
    """:func:`detection_map` of two ActivityNet-format JSON files (the CLI ``tools/analysis/eval_tad.py``).

    Returns:
        dict: JSON-ready ``mAP`` {tiou: value}, ``average_mAP``, ``per_class`` {label: {tiou: AP}}, ``num_gt``,
        ``num_predictions`` and ``ignored`` counts.
    """
    gt = read_ground_truth(gt_json, subset, remove_duplicates=remove_duplicates)
    out = detection_map(gt, read_predictions(pred_json), tiou_thresholds, tie_order)
    keys = [tiou_key(t) for t in out['tiou_thresholds']]
    per_class = {lab: {k: float(v) for k, v in zip(keys, out['ap'][:, c])} for c, lab in enumerate(out['labels'])}
    return dict(mAP=out['mAP'], average_mAP=out['average_mAP'], per_class=per_class,
                num_gt=int(out['num_gt'].sum()), num_predictions=out['num_predictions'], ignored=out['ignored'])


# ----------------------------------------------------------------------------------------------------------------
# MMEngine metric
# ----------------------------------------------------------------------------------------------------------------
def _field(obj, key: str, where: str):
    if isinstance(obj, Mapping):
        if key in obj:
            return obj[key]
    elif hasattr(obj, key):
        return getattr(obj, key)
    raise KeyError(f'{where}: data sample has no {key!r} (TAD data samples carry video_name and pred_instances with '
                   'segments (N, 2) seconds, labels (N,), scores (N,))')


def _are_names(labels) -> bool:
    if isinstance(labels, np.ndarray):
        return labels.dtype.kind in 'OUS'
    return isinstance(labels, (list, tuple)) and len(labels) > 0 and all(isinstance(x, str) for x in labels)


def _numpy(x, dtype) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu()
        x = x.double() if x.is_floating_point() else x
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


@METRICS.register_module()
class TADmAP(BaseMetric):
    """Temporal action detection mAP (ActivityNet semantics, :func:`detection_map`) for ``tools/test.py``.

    Data-sample contract (what a TAD model's ``predict`` returns, one sample per video; dicts or data elements):

    * ``video_name`` (str): the key of the video in the ground-truth JSON;
    * ``pred_instances`` with ``segments`` ``(N, 2)`` start / end in **seconds** (converted with
      :class:`tasks.tad.grid.FeatureGrid`), ``labels`` ``(N,)`` int class indices into ``classes`` (or a list of
      ``N`` class names, as the external video classifier gives) and ``scores`` ``(N,)``.

    A video predicted more than once (MMEngine's distributed sampler pads the last batch with repeats) counts
    once: the first copy is kept.

    Args:
        ann_file (str): Ground-truth JSON (ActivityNet format); read when the metric is built, so a wrong subset
            fails before the test loop.
        subset (str): Subset to evaluate, e.g. ``'validation'`` (THUMOS14 test: usually ``'test'``).
        tiou_thresholds (str | Sequence[float]): ``'thumos14'`` (0.3:0.1:0.7, default), ``'activitynet'``
            (0.5:0.05:0.95) or a list.
        classes (Sequence[str], optional): Class names indexed by ``labels``; default the dataset's
            ``metainfo['classes']``.
        remove_duplicates (bool): See :func:`read_ground_truth`.
        tie_order (str): See :func:`rank_by_score`.
        out_file (str, optional): Also write the predictions as ActivityNet-format JSON here.
        per_class (bool): Also return ``AP/<label>`` (the class's AP averaged over the thresholds).
        collect_device (str): ``'cpu'`` or ``'gpu'``, for distributed collection.
        prefix (str, optional): Metric name prefix, default ``'tad'``.
    """
    default_prefix = 'tad'

    def __init__(self, ann_file: str, subset: str, tiou_thresholds: Union[str, Sequence[float]] = 'thumos14',
                 classes: Optional[Sequence[str]] = None, remove_duplicates: bool = False, tie_order: str = 'numpy',
                 out_file: Optional[str] = None, per_class: bool = False, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.tiou_thresholds = resolve_thresholds(tiou_thresholds)
        rank_by_score(np.zeros(1), tie_order)  # validates
        self.gt = read_ground_truth(ann_file, subset, remove_duplicates=remove_duplicates)
        self.classes = list(classes) if classes is not None else None
        self.tie_order, self.out_file, self.per_class = tie_order, out_file, per_class

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Keep ``(video_name, segments (N, 2) float64, labels (N,) int64, scores (N,) float64)`` per sample."""
        for sample in data_samples:
            name = _field(sample, 'video_name', 'TADmAP')
            where = f'TADmAP: video {name!r}'
            inst = _field(sample, 'pred_instances', where)
            segs = _numpy(_field(inst, 'segments', where), np.float64)
            labels = _field(inst, 'labels', where)
            if _are_names(labels):  # class names (external video classifier)
                labels = np.asarray([str(x) for x in labels], dtype=object)
            else:
                labels = _numpy(labels, np.int64).reshape(-1)
            scores = _numpy(_field(inst, 'scores', where), np.float64).reshape(-1)
            if segs.size == 0:
                segs = segs.reshape(0, 2)
            if segs.ndim != 2 or segs.shape[1] != 2 or not len(segs) == len(labels) == len(scores):
                raise ValueError(f'{where}: pred_instances must hold segments (N, 2), labels (N,), scores (N,); got '
                                 f'{segs.shape}, {labels.shape}, {scores.shape}')
            self.results.append((str(name), segs, labels, scores))

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        classes = self.classes
        if classes is None:
            classes = (self.dataset_meta or {}).get('classes')
        names = None if classes is None else np.asarray(list(classes), dtype=object)
        predictions, repeats = {}, 0
        for name, segs, labels, scores in results:
            if name in predictions:
                repeats += 1
                continue
            if labels.dtype != object:  # class indices
                if names is None:
                    raise ValueError('TADmAP: class names are unknown: pass classes=[...] or give the dataset '
                                     "metainfo['classes']")
                if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
                    raise ValueError(f'TADmAP: video {name!r}: label index {int(labels.max())} outside the '
                                     f'{len(names)} classes')
                labels = names[labels]
            predictions[name] = dict(segments=segs, labels=labels.tolist(), scores=scores)
        if self.out_file:
            write_predictions(self.out_file, predictions)
            logger.info(f'TADmAP: predictions written to {self.out_file}')
        out = detection_map(self.gt, predictions, self.tiou_thresholds, self.tie_order)
        missing = len(set(self.gt.videos) - set(predictions))
        ign = out['ignored']
        logger.info(f'TADmAP on {self.gt.source} [{self.gt.subset}]: {len(predictions)} videos predicted'
                    f' ({repeats} repeats dropped), {missing} subset videos without predictions, ignored:'
                    f' {ign["videos"]} videos outside the subset, {ign["unknown_label"]} predictions with a label'
                    ' without ground truth\n' + '  '.join(f'mAP@{k} {v:.4f}' for k, v in out['mAP'].items())
                    + f'  average {out["average_mAP"]:.4f}')
        metrics = {f'mAP@{k}': v for k, v in out['mAP'].items()}
        metrics['average_mAP'] = out['average_mAP']
        if self.per_class:
            metrics.update({f'AP/{lab}': float(out['ap'][:, c].mean()) for c, lab in enumerate(out['labels'])})
        return metrics
