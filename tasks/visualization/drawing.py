"""Drawing helpers shared by the visualisation hook and the demos (plain OpenCV, no display needed)."""
from typing import List, Optional, Sequence

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
