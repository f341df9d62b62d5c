"""Drawing helpers shared by the visualisation hook and the demos (plain OpenCV, no display needed)."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np


def put_lines(image: np.ndarray, lines: Sequence[str], scale: Optional[float] = None) -> np.ndarray:
    """Write text lines at the top-left of an RGB uint8 image on a dark band; returns a new image."""
    out = np.ascontiguousarray(image).copy()
    scale = scale or max(0.35, out.shape[0] / 600)
    thick = max(1, int(round(scale * 2)))
    y = 0
    for line in lines:
        (w, h), base = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        cv2.rectangle(out, (0, y), (w + 6, y + h + base + 6), (0, 0, 0), -1)
        cv2.putText(out, line, (3, y + h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
        y += h + base + 6
    return out


def _text_block(lines: Sequence[str], scale: float, thick: int) -> Tuple[int, int]:
    """(width, height) in pixels of ``lines`` as :func:`put_lines` draws them."""
    sizes = [cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thick) for line in lines]
    return max(w for (w, _), _ in sizes) + 6, sum(h + base + 6 for (_, h), base in sizes)


def _overlaps(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(anchors: Sequence[Tuple[int, int, int, int]], sizes: Sequence[Tuple[int, int]],
                 image_size: Tuple[int, int]) -> List[Tuple[int, int, int, int]]:
    """Positions for label blocks that do not overlap each other, each as near its box as the others allow.

    Tried in order for each block (boxes from top to bottom): inside the box's top-left corner, just above the
    box, just below it, then further down and up in steps of a quarter line, then the same shifted left and right;
    the first place that is inside the image and free wins (a block that fits nowhere goes to its first place).

    Args:
        anchors (Sequence): ``(x1, y1, x2, y2)`` pixel boxes the labels belong to.
        sizes (Sequence): ``(width, height)`` of each label block.
        image_size (tuple): ``(height, width)``.

    Returns:
        list: ``(x1, y1, x2, y2)`` of each block, in the order of ``anchors``.
    """
    img_h, img_w = image_size
    placed: List[Tuple[int, int, int, int]] = [None] * len(anchors)  # type: ignore[list-item]
    taken: List[Tuple[int, int, int, int]] = []
    for i in sorted(range(len(anchors)), key=lambda k: (anchors[k][1], anchors[k][0])):
        (x1, y1, _, y2), (w, h) = anchors[i], sizes[i]
        x = int(min(max(0, x1), max(0, img_w - w)))
        step = max(4, h // 4)
        ys = [y1, y1 - h, y2] + list(range(y1 + step, img_h, step)) + list(range(y1 - step, -h, -step))
        xs = [x] + [v for k in range(1, img_w // step + 1) for v in (x + k * step, x - k * step)]
        first, rect = None, None
        for cx in xs:
            if cx < 0 or cx + w > img_w and cx != x:
                continue
            for y in ys:
                y = int(y)
                if y < 0 or y + h > img_h:
                    continue
                candidate = (cx, y, cx + w, y + h)
                first = first or candidate
                if not any(_overlaps(candidate, other) for other in taken):
                    rect = candidate
                    break
            if rect is not None:
                break
        rect = rect or first or (x, 0, x + w, h)
        placed[i] = rect
        taken.append(rect)
    return placed


def draw_labelled_boxes(image: np.ndarray, boxes: Sequence[Tuple[int, int, int, int]],
                        labels: Sequence[Sequence[str]], scale: Optional[float] = None,
                        color: Tuple[int, int, int] = (0, 255, 0)) -> Tuple[np.ndarray, list]:
    """Draw pixel boxes and their label lines on an RGB uint8 image, the label blocks laid out so that none
    covers another (:func:`place_labels`); returns the new image and the label rectangles.

    Args:
        image (np.ndarray): (H, W, 3) uint8.
        boxes (Sequence): ``(x1, y1, x2, y2)`` in pixels.
        labels (Sequence[Sequence[str]]): Lines for each box (a box without lines gets no block).
        scale (float, optional): Text scale (default: from the image height, as :func:`put_lines`).
        color (tuple): Box colour.
    """
    out = np.ascontiguousarray(image).copy()
    scale = scale or max(0.35, out.shape[0] / 600)
    thick = max(1, int(round(scale * 2)))
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), color, 1)
    keep = [i for i, lines in enumerate(labels) if lines]
    rects = place_labels([boxes[i] for i in keep], [_text_block(labels[i], scale, thick) for i in keep],
                         out.shape[:2])
    for i, (x1, y1, x2, y2) in zip(keep, rects):
        out[y1:y2, x1:x2] = put_lines(out[y1:y2, x1:x2], labels[i], scale=scale)
    return out, rects


def contact_sheet(frames: np.ndarray, cols: int = 4, height: int = 224) -> np.ndarray:
    """(T, H, W, 3) uint8 frames -> one RGB image with the frames tiled row by row at ``height`` pixels."""
    t, h, w = frames.shape[:3]
    size = (max(1, round(w * height / h)), height)
    tiles = [cv2.resize(np.ascontiguousarray(f), size, interpolation=cv2.INTER_LINEAR) for f in frames]
    rows = -(-t // cols)
    tiles += [np.zeros_like(tiles[0])] * (rows * cols - t)
    return np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1) for r in range(rows)], axis=0)


def label_lines(scores: Optional[np.ndarray], gt: Optional[int] = None, classes: Optional[List[str]] = None,
                topk: int = 3) -> List[str]:
    """Readable lines: ground truth and the top-k predictions with scores."""
    name = (lambda i: f'{i} {classes[i]}' if classes is not None and i < len(classes) else str(i))  # noqa: E731
    lines = [] if gt is None else [f'GT: {name(gt)}']
    if scores is not None:
        for i in np.argsort(-scores)[:topk]:
            lines.append(f'{name(int(i))}: {scores[i]:.2f}')
    return lines
