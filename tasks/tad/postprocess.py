"""ActivityNet's usual protocol: class-agnostic segments fused with a video-level classifier.

The detector is trained with one class ("action"); at test time every segment is repeated for the ``topk``
classes the external video classifier ranks highest (e.g. the CUHK classifier file
``cuhk_val_simp_share.json``: ``{"results": {video: [score per class]}, "class": [names]}``), with score
``segment score * class score`` (``'product'``, ActionFormer / OpenTAD's CUHK setting) or its square root
(``'sqrt'``, OpenTAD's standard classifier).
"""
import json
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
import torch

__all__ = ['VideoClassifierScores', 'fuse_video_classes']


class VideoClassifierScores:
    """Video-level class scores from a JSON file.

    Args:
        path (str): ``{"results": {video: [C scores]}, "class": [C names]}`` (``"classes"`` is accepted too).

    Raises:
        ValueError / FileNotFoundError: naming the file (and video) when malformed.
    """

    def __init__(self, path: str):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: video classifier file does not exist')
        with open(path, 'r', encoding='utf-8') as f:
            data = json.load(f)
        names = data.get('class', data.get('classes')) if isinstance(data, dict) else None
        if not isinstance(names, list) or not isinstance(data.get('results'), dict):
            raise ValueError(f'{path}: expected {{"results": {{video: [score per class]}}, "class": [names]}}')
        self.path, self.classes = path, [str(n) for n in names]
        self.scores: Dict[str, np.ndarray] = {}
        for vid, s in data['results'].items():
            arr = np.asarray(s, dtype=np.float64).reshape(-1)
            if arr.size != len(names):
                raise ValueError(f'{path}: video {vid!r} has {arr.size} class scores for {len(names)} classes')
            self.scores[vid] = arr

    def __call__(self, video: str) -> np.ndarray:
        """``(C,)`` class scores of ``video``."""
        if video not in self.scores:
            raise KeyError(f'{self.path}: no class scores for video {video!r}')
        return self.scores[video]


def fuse_video_classes(segments: torch.Tensor, scores: torch.Tensor, class_scores: np.ndarray, classes: List[str],
                       topk: int = 2, mode: str = 'product') -> Tuple[torch.Tensor, torch.Tensor, List[str]]:
    """Repeat class-agnostic segments for the ``topk`` best video classes.

    Args:
        segments (torch.Tensor): ``(N, 2)`` class-agnostic segments.
        scores (torch.Tensor): ``(N,)`` their scores.
        class_scores (np.ndarray): ``(C,)`` video-level class scores.
        classes (list[str]): ``C`` class names.
        topk (int): Classes per segment.
        mode (str): ``'product'`` (score x class score) or ``'sqrt'`` (its square root).

    Returns:
        tuple: ``segments (topk * N, 2)``, ``scores (topk * N,)``, ``labels`` (``topk * N`` class names); the
        best class's copies first.
    """
    if mode not in ('product', 'sqrt'):
        raise ValueError(f"fuse_video_classes: mode must be 'product' or 'sqrt', got {mode!r}")
    best = np.argsort(-np.asarray(class_scores, dtype=np.float64), kind='stable')[:topk]
    weight = torch.as_tensor(np.asarray(class_scores, dtype=np.float64)[best], dtype=scores.dtype,
                             device=scores.device)
    fused = (weight[:, None] * scores[None]).reshape(-1)
    if mode == 'sqrt':
        fused = fused.clamp(min=0).sqrt()
    labels = [classes[c] for c in best for _ in range(len(scores))]
    return segments.repeat(len(best), 1), fused, labels
