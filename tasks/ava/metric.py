"""AVA frame mAP @ 0.5 IoU with the official ActivityNet evaluator's semantics, and the official CSV format.

Semantics (ActivityNet ``get_ava_performance.py`` + the TF object-detection Pascal evaluator it uses):

* Frames are ``"{video_id},{timestamp:04d}"`` keys. Excluded timestamps are removed from the ground truth AND
  from the detections (mmaction2's ``AVAMetric`` keeps the excluded ground truth, so it can never reach 1.0).
* Only classes in the label map (the 60-class whitelist for AVA v2.2) are read, from both files.
* Order within a frame (:func:`official_frame_order`): the official reader pushes every row of a frame into a
  heap of ``(score, action_id, y1, x1, y2, x2)`` tuples, at most 50 for detections (a full heap only takes a
  strictly higher score than its minimum, and ties at the minimum are decided by the rest of the tuple), then
  sorts the heap's array by descending score with a stable sort. The ground truth goes through the same heap
  without a limit. This order decides which tied detection is matched first and which one is dropped at 50.
* Detections with ``x1 >= x2`` or ``y1 >= y2`` are removed after that (the evaluator's invalid-box filter).
* Per class and frame, detections in that order are matched to the ground-truth box of highest IoU (the first
  such box on IoU ties); a detection is a true positive if that IoU is >= 0.5 and that box is not taken yet
  (VOC rule: no fallback to the second-best box). Detections in frames without ground truth are false
  positives.
* AP per class: detections of all frames (frames in order of first appearance, each frame's in the order
  above) ranked by ``np.argsort(scores)[::-1]`` exactly as the official ``compute_precision_recall`` does,
  so tied scores rank as in the official evaluator; then all-points interpolated VOC AP (precision made
  non-increasing, summed over recall steps).
  A class with ground truth but no detection gets AP 0 (official ``compute_average_precision`` returns 0.0
  for empty precision); a class without ground truth is skipped (official NaN, dropped by ``nanmean``).
* mAP: mean over the classes with ground truth. Category means use AVA's label types: ids 1-14
  PERSON_MOVEMENT (pose), 15-63 OBJECT_MANIPULATION, 64-80 PERSON_INTERACTION, restricted to the evaluated
  classes that have ground truth.

Prediction csvs are written with the shortest repr that reads back to the same float (not mmaction2's 4
decimals), so scores tied in the csv are tied in memory and both paths give the same numbers.
"""
import csv
import heapq
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from backbones.registry import METRICS

__all__ = ['CATEGORIES', 'category_of', 'read_label_map', 'read_exclusions', 'read_ava_csv', 'write_ava_csv',
           'official_frame_order', 'frame_map', 'evaluate_files', 'AVAFrameMAP']

#: AVA label types (official action list) by id range.
CATEGORIES = (('PERSON_MOVEMENT', 1, 14), ('OBJECT_MANIPULATION', 15, 63), ('PERSON_INTERACTION', 64, 80))

Box = Tuple[float, float, float, float]
Frames = Dict[str, List[Tuple[Box, int, float]]]


def category_of(class_id: int) -> str:
    """AVA label type of an action id (1..80)."""
    for name, lo, hi in CATEGORIES:
        if lo <= class_id <= hi:
            return name
    raise ValueError(f'AVA action ids are 1..80, got {class_id}')


def frame_key(video_id: str, timestamp) -> str:
    return f'{video_id},{int(timestamp):04d}'


def read_label_map(path: str) -> Tuple[Dict[int, str], Set[int]]:
    """Parse an AVA pbtxt label map (``name:`` then ``id:`` or ``label_id:``) -> ({id: name}, ids)."""
    names, name = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith('name:'):
                name = line.split('"')[1]
            elif line.startswith('id:') or line.startswith('label_id:'):
                names[int(line.split()[-1])] = name
    if not names:
        raise ValueError(f'{path}: no classes found (expected pbtxt entries with name: and id:/label_id:)')
    return names, set(names)


def read_exclusions(path: Optional[str]) -> Set[str]:
    """Excluded-timestamps csv (video_id, timestamp) -> set of frame keys."""
    keys = set()
    if path is None:
        return keys
    with open(path) as f:
        for row in csv.reader(f):
            if row:
                if len(row) != 2:
                    raise ValueError(f'{path}: expected "video_id,timestamp" rows, got {row}')
                keys.add(frame_key(row[0], row[1]))
    return keys


def read_ava_csv(path: str, class_whitelist: Optional[Set[int]] = None, with_score: bool = False) -> Frames:
    """Read an AVA csv (ground truth: 7 or 8 columns; detections: score in column 8).

    Args:
        path (str): video_id, timestamp, x1, y1, x2, y2, action_id[, entity_id | score].
        class_whitelist (set[int], optional): Keep only these action ids.
        with_score (bool): Column 8 is a score (detections); otherwise every row scores 1.

    Returns:
        dict: frame key -> list of (box, action_id, score) in file order (frames in order of first appearance);
        :func:`frame_map` applies the official per-frame order and limit.
    """
    frames: Frames = defaultdict(list)
    with open(path) as f:
        for row in csv.reader(f):
            if not row:
                continue
            if len(row) not in (7, 8):
                raise ValueError(f'{path}: expected 7 or 8 columns, got {row}')
            action = int(row[6])
            if class_whitelist is not None and action not in class_whitelist:
                continue
            score = float(row[7]) if with_score and len(row) == 8 else 1.0
            frames[frame_key(row[0], row[1])].append((tuple(map(float, row[2:6])), action, score))
    return frames


def write_ava_csv(path: str, rows: Iterable[Tuple[str, int, Box, int, float]]) -> None:
    """Write detections in the official format: video_id, timestamp, x1, y1, x2, y2, action_id, score."""
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for vid, ts, box, action, score in rows:
            w.writerow([vid, f'{int(ts):04d}', *(repr(float(v)) for v in box), int(action), repr(float(score))])


def official_frame_order(entries: Sequence[Tuple[Box, int, float]],
                         capacity: int = 0) -> List[Tuple[Box, int, float]]:
    """One frame's rows in the order (and at most ``capacity`` of them, 0 = all) the official reader leaves
    them: a heap of ``(score, action_id, y1, x1, y2, x2)`` that a row enters while it holds fewer than
    ``capacity`` entries, or by replacing the minimum when its score is strictly higher; then the heap's array
    stably sorted by descending score.

    Args:
        entries: (box (x1, y1, x2, y2), action_id, score) in file order.
        capacity (int): Rows kept per frame (official: 50 for detections, 0 for ground truth).
    """
    heap: list = []
    for (x1, y1, x2, y2), action, score in entries:
        item = (score, action, y1, x1, y2, x2)
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, item)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, item)
    heap.sort(key=lambda e: -e[0])  # list.sort is stable, like the official sorted()
    return [((x1, y1, x2, y2), action, score) for score, action, y1, x1, y2, x2 in heap]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> (N, M) IoU of x1, y1, x2, y2 boxes (no +1: normalised coordinates)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.)


def voc_ap(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """All-points interpolated VOC AP of scored detections with true-positive flags."""
    if num_gt <= 0:
        return float('nan')
    if scores.size == 0:
        return 0.0
    order = np.argsort(scores)[::-1]  # the official compute_precision_recall's ranking, ties included
    tp = tp[order].astype(np.float64)
    ctp, cfp = np.cumsum(tp), np.cumsum(1. - tp)
    precision = ctp / (ctp + cfp)
    recall = ctp / num_gt
    recall = np.concatenate([[0.], recall, [1.]])
    precision = np.concatenate([[0.], precision, [0.]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _match_frame(dets: List[Tuple[Box, int, float]], gt: List[Tuple[Box, int, float]], classes: Set[int],
                 iou_thr: float, capacity: int, scores: Dict[int, list], tps: Dict[int, list]) -> None:
    """VOC matching of one frame's detections: appends per class the scores (in the official order) to
    ``scores[c]`` and their true-positive flags to ``tps[c]``."""
    by_class = defaultdict(list)
    for box, c, s in official_frame_order([e for e in dets if e[1] in classes], capacity):
        if box[0] < box[2] and box[1] < box[3]:  # the evaluator drops invalid boxes
            by_class[c].append((box, s))
    gt_by_class = defaultdict(list)
    for box, c, _ in official_frame_order([e for e in gt if e[1] in classes]):
        gt_by_class[c].append(box)
    for c, items in by_class.items():
        tp = np.zeros(len(items), dtype=bool)
        g = gt_by_class.get(c)
        if g:
            iou = _iou(np.array([e[0] for e in items], dtype=np.float64), np.array(g, dtype=np.float64))
            taken = np.zeros(len(g), dtype=bool)
            for i, j in enumerate(iou.argmax(1)):  # the first box of highest IoU, VOC rule: no fallback
                if iou[i, j] >= iou_thr and not taken[j]:
                    tp[i] = taken[j] = True
        scores[c].append(np.array([e[1] for e in items], dtype=np.float64))
        tps[c].append(tp)


def frame_map(gt: Frames, dets: Frames, class_ids: Sequence[int], excluded: Optional[Set[str]] = None,
              iou_thr: float = 0.5, capacity: int = 50, progress: bool = False) -> dict:
    """Frame AP per class, mAP and AVA category means.

    Args:
        gt (dict): frame key -> [(box, action_id, score)] ground truth.
        dets (dict): frame key -> [(box, action_id, score)] detections.
        class_ids (Sequence[int]): Evaluated classes (the label map's whitelist).
        excluded (set[str], optional): Frame keys removed from both.
        iou_thr (float): Matching IoU.
        capacity (int): Detections kept per frame (see :func:`official_frame_order`), 0 = all.
        progress (bool): Show a progress bar over the frames on stderr.

    Returns:
        dict: ``mAP``, ``per_class`` {id: AP} (classes with ground truth), ``categories`` {name: mean AP}
        (categories with an evaluated class that has ground truth), ``num_gt`` {id: count}.
    """
    excluded = excluded or set()
    classes = set(class_ids)
    scores, tps, num_gt = defaultdict(list), defaultdict(list), defaultdict(int)
    for key, entries in gt.items():
        if key in excluded:
            continue
        for _, c, _ in entries:
            if c in classes:
                num_gt[c] += 1
    bar = Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=Console(stderr=True),
                   disable=not progress)
    with bar:
        for key, entries in bar.track(dets.items(), total=len(dets), description='AVA frames'):
            if key not in excluded:
                _match_frame(entries, gt.get(key, []), classes, iou_thr, capacity, scores, tps)
    per_class = {}
    for c in sorted(classes):
        if num_gt[c] == 0:
            continue  # no ground truth: skipped, as the official NaN + nanmean
        s = np.concatenate(scores[c]) if scores[c] else np.zeros(0)
        t = np.concatenate(tps[c]) if tps[c] else np.zeros(0, dtype=bool)
        per_class[c] = voc_ap(s, t, num_gt[c])
    cats = {}
    for name, lo, hi in CATEGORIES:
        aps = [ap for c, ap in per_class.items() if lo <= c <= hi]
        if aps:
            cats[name] = float(np.mean(aps))
    mean = float(np.mean(list(per_class.values()))) if per_class else float('nan')
    return dict(mAP=mean, per_class=per_class, categories=cats, num_gt=dict(num_gt))


def evaluate_files(gt_csv: str, pred_csv: str, label_map: str, exclude_csv: Optional[str] = None,
                   iou_thr: float = 0.5, capacity: int = 50, progress: bool = False) -> dict:
    """:func:`frame_map` on official-format files (see :func:`read_ava_csv`)."""
    _, whitelist = read_label_map(label_map)
    gt = read_ava_csv(gt_csv, whitelist)
    dets = read_ava_csv(pred_csv, whitelist, with_score=True)
    return frame_map(gt, dets, sorted(whitelist), read_exclusions(exclude_csv), iou_thr, capacity, progress)


@METRICS.register_module()
class AVAFrameMAP(BaseMetric):
    """Frame mAP @ IoU 0.5 for AVA with the official evaluator's semantics (see the module docstring).

    Ground truth is read from ``ann_file`` (the official csv), not from the data samples, so frames the
    dataset skips still count; excluded timestamps are dropped from ground truth and detections. Predictions
    come from ``pred_instances`` (``bboxes`` (N, 4) normalised to the original frame, ``scores`` (N, K) with
    column = action id); entries with score 0 are not detections.

    Args:
        ann_file (str): Ground-truth csv.
        label_file (str): pbtxt label map; its ids are the evaluated classes.
        exclude_file (str, optional): Excluded timestamps csv.
        iou_thr (float): Matching IoU.
        max_dets_per_frame (int): Detections kept per frame (official: 50); 0 keeps all.
        out_csv (str, optional): Also write the detections here in the official csv format.
        per_class (bool): Add ``AP@<id>`` entries to the results.
        collect_device (str): For distributed collection.
        prefix (str, optional): Defaults to ``ava``.
    """
    default_prefix = 'ava'

    def __init__(self, ann_file: str, label_file: str, exclude_file: Optional[str] = None, iou_thr: float = 0.5,
                 max_dets_per_frame: int = 50, out_csv: Optional[str] = None, per_class: bool = True,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file, self.label_file, self.exclude_file = ann_file, label_file, exclude_file
        self.iou_thr, self.capacity, self.out_csv, self.per_class = iou_thr, max_dets_per_frame, out_csv, per_class

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            pred = ds['pred_instances']
            boxes, scores = np.asarray(pred['bboxes'], np.float64), np.asarray(pred['scores'], np.float64)
            self.results.append((ds['video_id'], int(ds['timestamp']), boxes, scores))

    @staticmethod
    def to_rows(results) -> List[Tuple[str, int, Box, int, float]]:
        """(video_id, timestamp, boxes (N, 4), scores (N, K)) per frame -> official csv rows."""
        rows = []
        for vid, ts, boxes, scores in results:
            for i, j in zip(*np.nonzero(scores > 0)):
                rows.append((vid, ts, tuple(boxes[i]), int(j), float(scores[i, j])))
        return rows

    def compute_metrics(self, results: list) -> dict:
        names, whitelist = read_label_map(self.label_file)
        rows = self.to_rows(results)
        if self.out_csv:
            write_ava_csv(self.out_csv, rows)
        dets: Frames = defaultdict(list)
        for vid, ts, box, c, s in rows:
            dets[frame_key(vid, ts)].append((box, c, s))
        out = frame_map(read_ava_csv(self.ann_file, whitelist), dets, sorted(whitelist),
                        read_exclusions(self.exclude_file), self.iou_thr, self.capacity)
        logger = MMLogger.get_current_instance()
        lines = [f'{c:3d} {names[c][:40]:40s} AP {ap:.4f} (gt {out["num_gt"][c]})' for c, ap in out['per_class'].items()]
        logger.info('AVA frame AP@%.2f per class:\n%s' % (self.iou_thr, '\n'.join(lines)))
        metrics = {'mAP': out['mAP'], **out['categories']}
        if self.per_class:
            metrics.update({f'AP@{c}': ap for c, ap in out['per_class'].items()})
        return metrics
