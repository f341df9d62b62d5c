"""ActivityNet's class-agnostic protocol: video-classifier fusion, in the detector and in the metric."""
import json

import numpy as np
import pytest
import torch

from tasks.tad.detector import ActionFormer
from tasks.tad.grid import FeatureGrid
from tasks.tad.metric import TADmAP
from tasks.tad.postprocess import VideoClassifierScores, fuse_video_classes


@pytest.fixture
def clf_file(tmp_path):
    path = tmp_path / 'cls.json'
    path.write_text(json.dumps({'results': {'v1': [.1, .7, .2], 'v2': [.5, .3, .2]}, 'class': ['a', 'b', 'c']}))
    return str(path)


def test_fusion_repeats_segments_for_the_best_classes(clf_file):
    clf = VideoClassifierScores(clf_file)
    segs, scores = torch.tensor([[0., 1.], [2., 3.]]), torch.tensor([.5, .4])
    s, sc, lab = fuse_video_classes(segs, scores, clf('v1'), clf.classes, topk=2)
    assert s.tolist() == [[0., 1.], [2., 3.]] * 2 and lab == ['b', 'b', 'c', 'c']
    assert sc.tolist() == pytest.approx([.35, .28, .1, .08])
    _, sc, _ = fuse_video_classes(segs, scores, clf('v1'), clf.classes, topk=1, mode='sqrt')
    assert sc.tolist() == pytest.approx([.35 ** .5, .28 ** .5])
    with pytest.raises(KeyError, match="cls.json: no class scores for video 'v9'"):
        clf('v9')


def test_malformed_classifier_file_is_named(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps({'results': {'v1': [.1, .7]}, 'class': ['a', 'b', 'c']}))
    with pytest.raises(ValueError, match="bad.json: video 'v1' has 2 class scores for 3 classes"):
        VideoClassifierScores(str(path))


def test_class_agnostic_detector_with_classifier_feeds_the_metric(clf_file, tmp_path):
    torch.manual_seed(0)
    model = ActionFormer(in_channels=8, num_classes=1, embed_dims=16, num_heads=2, head_dims=16, window_size=5,
                         test_cfg=dict(nms=dict(multiclass=False, voting_thresh=0.9),
                                       external_classifier=dict(path=clf_file, topk=2))).eval()
    grid = FeatureGrid(fps=30)
    out = model.predict(torch.randn(2, 8, 64), [dict(video_name='v1', feat_grid=grid),
                                                dict(video_name='v2', feat_grid=grid)])
    labels = out[0].pred_instances.labels
    assert set(labels) == {'b', 'c'} and len(labels) == len(out[0].pred_instances.segments)
    gt = tmp_path / 'gt.json'
    gt.write_text(json.dumps({'database': {'v1': {'subset': 'val', 'annotations': [{'segment': [0, 1], 'label': 'b'}]},
                                           'v2': {'subset': 'val', 'annotations': [{'segment': [0, 1], 'label': 'a'}]}}}))
    metric = TADmAP(str(gt), 'val', tiou_thresholds=[0.1])  # no class list needed: labels are names
    metric.process({}, [o.to_dict() for o in out])
    res = metric.compute_metrics(metric.results)
    assert 0 <= res['mAP@0.1'] <= 1 and np.isfinite(res['average_mAP'])
