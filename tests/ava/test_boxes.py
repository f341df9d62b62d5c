"""Box round trip through mmaction2's AVA transforms, and the training label assignment."""
import numpy as np
import pytest
import torch

from tasks.ava.boxes import assign_labels, boxes_from_original, boxes_to_original


@pytest.mark.parametrize('flip', [False, True])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_round_trip_through_rescale_crop_flip(flip, seed):
    from mmaction.datasets.transforms import Flip, RandomCrop, RandomRescale
    np.random.seed(seed)
    h, w = 90, 100  # short side -> 64..80, so a 60 x 60 crop starts at x <= 29, y <= 20
    norm = np.array([[0.40, 0.35, 0.55, 0.70], [0.45, 0.40, 0.60, 0.65]])  # inside every such crop
    results = dict(imgs=[np.zeros((h, w, 3), np.uint8)] * 2, img_shape=(h, w), modality='RGB',
                   gt_bboxes=(norm * [w, h, w, h]).astype(np.float32), proposals=(norm * [w, h, w, h]).astype(np.float32),
                   crop_quadruple=np.array([0, 0, 1, 1], np.float32))
    results = RandomRescale(scale_range=(64, 80))(results)
    results = RandomCrop(size=60)(results)
    results = Flip(flip_ratio=1.0 if flip else 0.0)(results)
    assert results['flip'] == flip and results['img_shape'] == (60, 60)
    back = boxes_to_original(results['proposals'], results['img_shape'], results['crop_quadruple'], results['flip'])
    np.testing.assert_allclose(back, norm, atol=2e-3)  # float32 crop quadruple
    # and the inverse maps the original boxes onto what the transforms produced
    np.testing.assert_allclose(boxes_from_original(norm, results['img_shape'], results['crop_quadruple'], flip),
                               results['gt_bboxes'], atol=0.1)


def test_round_trip_is_exact_on_pure_functions_and_tensors():
    norm = np.array([[0.1, 0.2, 0.5, 0.9]])
    for cq, flip in [(None, False), ((0.2, 0.1, 0.5, 0.8), True), ((0.0, 0.25, 1.0, 0.5), False)]:
        pix = boxes_from_original(norm, (64, 85), cq, flip)
        np.testing.assert_allclose(boxes_to_original(pix, (64, 85), cq, flip), norm, atol=1e-12)
        out = boxes_to_original(torch.tensor(pix, dtype=torch.float32), (64, 85), cq, flip)
        assert out.dtype == torch.float32 and torch.allclose(out, torch.tensor(norm, dtype=torch.float32), atol=1e-6)


def _labels(*ids, k=81):
    t = torch.zeros(len(ids), k)
    for i, group in enumerate(ids):
        t[i, list(group)] = 1
    return t


def test_label_assignment_iou_09_positive_others_dropped():
    gt = torch.tensor([[0., 0., 10., 10.], [20., 0., 30., 10.]])
    labels = _labels((12, 17), (14,))
    props = torch.tensor([[0., 0., 10., 10.5],   # IoU 0.952 with gt0 -> positive, gt0's labels
                          [0., 0., 10., 11.2],   # IoU 0.893 -> dropped (mmaction2: negative, not in the loss)
                          [20., 0., 29., 10.],   # IoU 0.9 exactly -> positive (>=), gt1's labels
                          [50., 50., 60., 60.]])  # background -> dropped
    rois, targets = assign_labels(props, gt, labels)
    assert rois.shape == (4, 4)  # 2 ground truth + 2 positives
    torch.testing.assert_close(rois[2:], props[[0, 2]])
    torch.testing.assert_close(targets, labels[[0, 1, 0, 1]])
    rois, _ = assign_labels(props, gt, labels, add_gt_as_proposals=False)
    assert rois.shape[0] == 2


def test_label_assignment_takes_best_gt_and_caps_rois():
    gt = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 10.4]])
    labels = _labels((1,), (80,))
    rois, targets = assign_labels(torch.tensor([[0., 0., 10., 10.39]]), gt, labels, add_gt_as_proposals=False)
    assert targets[0, 80] == 1 and targets[0, 1] == 0
    many = torch.tensor([[0., 0., 10., 10.]]).repeat(40, 1)
    rois, targets = assign_labels(many, gt, labels, max_rois=32, generator=torch.Generator().manual_seed(0))
    assert rois.shape == (32, 4) and targets.shape == (32, 81)
    rois, targets = assign_labels(many, gt[:0], labels[:0])
    assert rois.shape == (0, 4) and targets.shape == (0, 81)
