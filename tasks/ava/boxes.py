"""Pure box functions of the AVA detector: the transform round trip and the training label assignment."""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torchvision.ops import box_iou

__all__ = ['boxes_to_original', 'boxes_from_original', 'assign_labels']


def boxes_to_original(boxes, img_shape: Sequence[int], crop_quadruple: Optional[Sequence[float]] = None,
                      flip: bool = False):
    """Map boxes from the network input back to normalised coordinates of the original frame.

    mmaction2's AVA transforms keep what is needed: ``img_shape`` (h, w) of the final input, the
    ``crop_quadruple`` (x, y, w, h of the crop as fractions of the original frame; SampleAVAFrames starts it at
    (0, 0, 1, 1) and every crop composes into it) and ``flip`` (horizontal, applied after cropping). Rescaling
    needs nothing: normalised coordinates do not change under a resize.

    Args:
        boxes (Tensor | ndarray): (N, 4) x1, y1, x2, y2 in pixels of the network input.
        img_shape (Sequence[int]): (h, w) of the network input.
        crop_quadruple (Sequence[float], optional): (x, y, w, h); None means no crop.
        flip (bool): Whether the input was flipped horizontally.

    Returns:
        Same type as ``boxes``: (N, 4) normalised x1, y1, x2, y2 of the original frame, clipped to [0, 1].
    """
    is_np = isinstance(boxes, np.ndarray)
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4).clone()
    h, w = float(img_shape[0]), float(img_shape[1])
    if flip:
        b[:, [0, 2]] = w - b[:, [2, 0]]
    b[:, [0, 2]] /= w
    b[:, [1, 3]] /= h
    if crop_quadruple is not None:
        cx, cy, cw, ch = (float(v) for v in crop_quadruple)
        b[:, [0, 2]] = cx + b[:, [0, 2]] * cw
        b[:, [1, 3]] = cy + b[:, [1, 3]] * ch
    b = b.clamp(0., 1.)
    if is_np:
        return b.numpy().astype(boxes.dtype if boxes.dtype.kind == 'f' else np.float64)
    return b.to(boxes.dtype if torch.is_tensor(boxes) and boxes.is_floating_point() else torch.float32)


def boxes_from_original(boxes: np.ndarray, img_shape: Sequence[int],
                        crop_quadruple: Optional[Sequence[float]] = None, flip: bool = False) -> np.ndarray:
    """Inverse of :func:`boxes_to_original` (normalised original -> input pixels), without clipping."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    h, w = float(img_shape[0]), float(img_shape[1])
    if crop_quadruple is not None:
        cx, cy, cw, ch = (float(v) for v in crop_quadruple)
        b[:, [0, 2]] = (b[:, [0, 2]] - cx) / cw
        b[:, [1, 3]] = (b[:, [1, 3]] - cy) / ch
    b[:, [0, 2]] *= w
    b[:, [1, 3]] *= h
    if flip:
        b[:, [0, 2]] = w - b[:, [2, 0]]
    return b


def assign_labels(proposals: torch.Tensor, gt_bboxes: torch.Tensor, gt_labels: torch.Tensor,
                  pos_iou_thr: float = 0.9, add_gt_as_proposals: bool = True,
                  max_rois: Optional[int] = None,
                  generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Training RoIs and their multi-label targets, with mmaction2's AVA semantics.

    mmaction2 (``MaxIoUAssignerAVA`` with pos/neg/min-pos IoU 0.9, ``RandomSampler(num=32, pos_fraction=1,
    add_gt_as_proposals=True)``, ``BBoxHeadAVA.loss``) adds the ground-truth boxes to the proposals, gives a
    candidate the labels of its highest-IoU ground truth when that IoU is >= 0.9, samples up to 32 positives
    (filling up with negatives), and then computes the loss on the positives only. Negatives therefore never
    reach the loss; here they are dropped right away, which is the same objective without the wasted RoIs.

    Args:
        proposals (Tensor): (P, 4) candidate boxes (pixels).
        gt_bboxes (Tensor): (G, 4) ground-truth boxes, same coordinates.
        gt_labels (Tensor): (G, K) multi-hot targets.
        pos_iou_thr (float): IoU at or above which a candidate is positive.
        add_gt_as_proposals (bool): Put the ground-truth boxes first among the candidates.
        max_rois (int, optional): Keep at most this many positives, chosen at random (mmaction2: 32).
        generator (torch.Generator, optional): For the random choice.

    Returns:
        tuple: rois (M, 4) and targets (M, K) float.
    """
    gt_labels = gt_labels.float()
    cands = [gt_bboxes] if add_gt_as_proposals else []
    if proposals is not None and proposals.numel():
        cands.append(proposals.to(gt_bboxes))
    if not cands or gt_bboxes.numel() == 0:
        return gt_bboxes.new_zeros((0, 4)), gt_labels.new_zeros((0, gt_labels.shape[-1]))
    cands = torch.cat(cands)
    iou = box_iou(cands, gt_bboxes)  # (P', G)
    best, idx = iou.max(dim=1)
    keep = best >= pos_iou_thr
    rois, targets = cands[keep], gt_labels[idx[keep]]
    if max_rois is not None and rois.shape[0] > max_rois:
        sel = torch.randperm(rois.shape[0], generator=generator, device='cpu')[:max_rois].to(rois.device)
        rois, targets = rois[sel], targets[sel]
    return rois, targets
