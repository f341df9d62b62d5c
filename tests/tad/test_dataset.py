"""TAD feature datasets: what a sample carries, the grid from features.json / config / per-video fps, class lists,
random truncation, resize-once with the exact grid, and every bad input (fail at build naming file + video +
problem, or skip and count)."""
import json

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from tasks.datasets.annotations import AnnotationError
from tasks.datasets.policy import UnreadableVideoError
from tasks.tad import ActionFormer, FeatureGrid, TADmAP
from tasks.tad.dataset import (ActivityNet13Dataset, TADFeatureDataset, THUMOS14Dataset, resize_features,
                               resized_grid)
from tasks.tad.transforms import PackTADInputs, RandomTruncateFeatures

C = 8
PACK = [dict(type='PackTADInputs')]


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('videofm')


def make_set(tmp_path, videos=None, grid=dict(fps=10.0, stride=4, clip_len=16, offset=8.0), lengths=None):
    """A THUMOS-like set: 'validation' (train) and 'test' videos; features (T, C) where feature i = i."""
    videos = videos or {
        'v1': dict(subset='validation', duration=20.0, annotations=[
            dict(segment=[2.0, 5.0], label='Jump'), dict(segment=[8.0, 9.0], label='Ambiguous'),
            dict(segment=[10.0, 14.0], label='Run')]),
        'v2': dict(subset='validation', duration=12.0, fps=20.0, annotations=[dict(segment=[1.0, 3.0],
                                                                                 label='Run')]),
        't1': dict(subset='test', duration=20.0, annotations=[dict(segment=[4.0, 6.0], label='Jump')]),
    }
    feat = tmp_path / 'feats'
    feat.mkdir(exist_ok=True)
    for vid, v in videos.items():
        fps = v.get('fps', grid['fps'] if grid else 10.0)
        t = (lengths or {}).get(vid, int((v['duration'] * fps - 16) // 4) + 1)
        np.save(feat / f'{vid}.npy', np.repeat(np.arange(t, dtype=np.float32)[:, None], C, 1))
    if grid is not None:
        (feat / 'features.json').write_text(json.dumps(FeatureGrid(**grid).to_dict()))
    ann = tmp_path / 'gt.json'
    ann.write_text(json.dumps(dict(database=videos)))
    return str(ann), str(feat)


def build(ann, feat, cls=THUMOS14Dataset, subset='validation', **kw):
    kw.setdefault('pipeline', PACK)
    return cls(ann_file=ann, feat_root=feat, subset=subset, feat_dim=C, **kw)


def test_sample_carries_what_detector_and_metric_read(tmp_path):
    ann, feat = make_set(tmp_path)
    ds = build(ann, feat)
    assert ds.metainfo['classes'] == ('Jump', 'Run')  # sorted, Ambiguous excluded
    out = ds[0]
    s = out['data_samples']
    assert out['inputs'].shape == (C, 47) and out['inputs'].dtype == torch.float32
    assert torch.equal(out['inputs'][0], torch.arange(47.))
    assert s.video_name == 'v1' and s.duration == 20.0 and s.num_feats == 47
    assert s.feat_grid == FeatureGrid(fps=10, stride=4, clip_len=16, offset=8)
    assert torch.equal(s.gt_segments, torch.tensor([[2., 5.], [10., 14.]]))
    assert torch.equal(s.gt_labels, torch.tensor([0, 1]))
    # per-video fps from the JSON overrides features.json
    assert ds[1]['data_samples'].feat_grid.fps == 20.0
    # the test split keeps the class list of the training subset; the detector and TADmAP run on the samples
    test = build(ann, feat, subset='test', test_mode=True)
    assert test.metainfo['classes'] == ('Jump', 'Run')
    torch.manual_seed(0)
    model = ActionFormer(in_channels=C, num_classes=2, embed_dims=16, head_dims=16, num_heads=2, window_size=5)
    batch = [ds[0], ds[1]]
    losses = model.loss([b['inputs'] for b in batch], [b['data_samples'] for b in batch])
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    preds = model.predict([test[0]['inputs']], [test[0]['data_samples']])
    metric = TADmAP(ann, 'test')
    metric.dataset_meta = test.metainfo
    metric.process({}, preds)
    assert 0 <= metric.compute_metrics(metric.results)['average_mAP'] <= 1


def test_grid_from_config_when_no_features_json(tmp_path):
    ann, feat = make_set(tmp_path, grid=None)
    with pytest.raises(AnnotationError, match='grid misses stride, clip_len'):
        build(ann, feat)
    ds = build(ann, feat, grid=dict(fps=10, stride=4, clip_len=16))
    assert ds[0]['data_samples'].feat_grid.offset == 8.0


def test_classes_from_config_and_unknown_label(tmp_path):
    ann, feat = make_set(tmp_path)
    ds = build(ann, feat, classes=['Run', 'Jump', 'Swim'])
    assert ds[0]['data_samples'].gt_labels.tolist() == [1, 0]
    with pytest.raises(AnnotationError, match=r"gt\.json video 'v1': annotation 0: unknown label 'Jump'"):
        build(ann, feat, classes=['Run'])


def test_unknown_subset_names_the_subsets(tmp_path):
    ann, feat = make_set(tmp_path)
    with pytest.raises(AnnotationError, match="subset 'tset' has no videos.*'validation' \\(2 videos\\).*Did you mean "
                       "'test'"):
        build(ann, feat, subset='tset')


def test_random_truncation_keeps_seconds_consistent():
    grid = FeatureGrid(fps=10, stride=4, clip_len=16)
    feats = np.arange(100, dtype=np.float32)[:, None].repeat(3, 1)
    segs = np.array([[3.0, 6.0], [20.0, 30.0]], np.float32)
    t = RandomTruncateFeatures(max_seq_len=40, trunc_thresh=0.5, seed=0)
    for _ in range(20):
        r = t(dict(feats=feats, feat_grid=grid, num_feats=100, gt_segments=segs, gt_labels=np.array([0, 1])))
        start, g = r['trunc_start'], r['feat_grid']
        assert r['feats'].shape == (40, 3) and r['feats'][0, 0] == start and r['num_feats'] == 40
        # feature j of the crop is feature start + j of the video: same seconds
        assert g.index_to_seconds(5) == pytest.approx(grid.index_to_seconds(start + 5))
        assert len(r['gt_labels']) >= 1
        # kept segments are the originals clipped to the window
        lo, hi = g.index_to_seconds(0), g.index_to_seconds(40)
        for (s, e), lab in zip(r['gt_segments'], r['gt_labels']):
            s0, e0 = segs[lab]
            assert s == pytest.approx(max(s0, lo), abs=1e-4) and e == pytest.approx(min(e0, hi), abs=1e-4)
    # short sequences: crop_ratio cuts 90-100 %
    t = RandomTruncateFeatures(max_seq_len=2304, crop_ratio=(0.9, 1.0), seed=1)
    lens = {t(dict(feats=feats, feat_grid=grid, num_feats=100, gt_segments=segs,
                   gt_labels=np.array([0, 1])))['num_feats'] for _ in range(30)}
    assert lens <= set(range(90, 101)) and len(lens) > 1
    assert 'trunc_start' not in RandomTruncateFeatures(max_seq_len=200)(dict(feats=feats, feat_grid=grid,
                                                                            num_feats=100))


def test_resize_once_with_exact_grid(tmp_path):
    ann, feat = make_set(tmp_path, videos={
        'a': dict(subset='training', duration=40.0, annotations=[dict(segment=[5.0, 9.0], label='x')]),
        'b': dict(subset='validation', duration=20.0, annotations=[dict(segment=[5.0, 9.0], label='x')])})
    ds = ActivityNet13Dataset(ann_file=ann, feat_root=feat, subset='training', feat_dim=C, resize_length=16,
                              pipeline=PACK)
    grid0 = FeatureGrid(fps=10, stride=4, clip_len=16)
    t = 97  # (400 - 16) // 4 + 1
    out = ds[0]
    g = out['data_samples'].feat_grid
    assert out['inputs'].shape == (C, 16) and g == resized_grid(grid0, t, 16)
    assert g.stride == pytest.approx(4 * t / 16)
    # the grid is exact for the interpolated values: resized feature j holds original index i(j), which sits at
    # the same time in both grids
    for j in range(1, 15):
        i = out['inputs'][0, j].item()
        assert g.index_to_seconds(j) == pytest.approx(grid0.index_to_seconds(i), abs=1e-4)
    for _ in range(3):
        ds[0]
    assert ds.num_resized == 1  # once, not every epoch
    # disk cache: a second dataset (another run / worker) reuses it
    cache = tmp_path / 'cache'
    kw = dict(ann_file=ann, feat_root=feat, subset='training', feat_dim=C, resize_length=16, pipeline=PACK,
              resize_cache_dir=str(cache))
    first = ActivityNet13Dataset(**kw)
    first[0]
    second = ActivityNet13Dataset(**kw)
    assert torch.equal(second[0]['inputs'], out['inputs']) and first.num_resized == 1 and second.num_resized == 0
    assert sorted(p.name for p in cache.iterdir()) == ['a_16.npy']
    np.testing.assert_allclose(resize_features(np.arange(4.)[:, None], 4)[:, 0], np.arange(4.))
    agnostic = ActivityNet13Dataset(**{**kw, 'class_agnostic': True})
    assert agnostic.metainfo['classes'] == ('action',) and agnostic[0]['data_samples'].gt_labels.tolist() == [0]


BAD = [
    ('missing', 'missing features', r"video 'v2': feature file \S+v2\.npy does not exist"),
    ('width', 'wrong feature width', r"video 'v2': feature file \S+v2\.npy has 5 channels per feature, expected 8"),
    ('empty', 'empty features', r"video 'v2': feature file \S+v2\.npy is empty \(shape \(0, 8\)\)"),
    ('zero_bytes', 'empty features', r"video 'v2': feature file \S+v2\.npy is empty \(0 bytes\)"),
    ('end_before_start', 'bad segment', r"video 'v2': annotation 0: segment \[3, 1\] has end <= start"),
    ('outside', 'outside', r"video 'v2': annotation 0: segment \[1, 30\] lies outside the video \[0, 12\] s"),
    ('label', 'unknown label', r"video 'v2': annotation 0: unknown label 'Rnu'.*did you mean 'Run'"),
    ('short', 'short video', r"video 'v2': duration 0.5 s = 10.0 frames at 20 fps is shorter than one clip "
     r"\(16 frames\); feature file \S+v2\.npy"),
]


@pytest.mark.parametrize('case,kind,message', BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_at_build_or_is_skipped(tmp_path, case, kind, message):
    ann, feat = make_set(tmp_path)
    db = json.loads(open(ann).read())
    v2 = db['database']['v2']
    path = tmp_path / 'feats' / 'v2.npy'
    if case == 'missing':
        path.unlink()
    elif case == 'width':
        np.save(path, np.zeros((10, 5), np.float32))
    elif case == 'empty':
        np.save(path, np.zeros((0, C), np.float32))
    elif case == 'zero_bytes':
        path.write_bytes(b'')
    elif case == 'end_before_start':
        v2['annotations'][0]['segment'] = [3.0, 1.0]
    elif case == 'outside':
        v2['annotations'][0]['segment'] = [1.0, 30.0]
    elif case == 'label':
        v2['annotations'][0]['label'] = 'Rnu'
    elif case == 'short':
        v2['duration'] = 0.5
    open(ann, 'w').write(json.dumps(db))
    kw = dict(classes=['Jump', 'Run']) if case == 'label' else {}  # derived classes would include the typo
    with pytest.raises(AnnotationError, match=r'gt\.json ' + message):
        build(ann, feat, **kw)
    with pytest.raises(AnnotationError):
        build(ann, feat, on_error='raise', **kw)
    ds = build(ann, feat, on_error='skip', **kw)  # dropped with one warning and its count
    assert [ds.get_data_info(i)['video_name'] for i in range(len(ds))] == ['v1']


def test_segment_within_tolerance_is_clipped(tmp_path):
    ann, feat = make_set(tmp_path)
    db = json.loads(open(ann).read())
    db['database']['v2']['annotations'][0]['segment'] = [-0.2, 12.3]
    open(ann, 'w').write(json.dumps(db))
    assert build(ann, feat)[1]['data_samples'].gt_segments.tolist() == [[0.0, 12.0]]


def test_unreadable_features_at_load_time_skip_in_training_raise_in_test(tmp_path):
    ann, feat = make_set(tmp_path)
    ds = build(ann, feat)
    test = build(ann, feat, subset='validation', test_mode=True)
    (tmp_path / 'feats' / 'v1.npy').write_bytes(b'garbage')  # broken after the build
    assert ds.prepare_data(0) is None and len(ds.skip_log.read()) == 1
    assert ds[0]['data_samples'].video_name == 'v2'  # MMEngine refetches another sample
    (tmp_path / 'feats' / 'v2.npy').write_bytes(b'garbage')
    with pytest.raises(UnreadableVideoError, match=r'v2\.npy'):
        test[1]


def test_generic_dataset_and_pack_meta():
    sample = PackTADInputs()(dict(feats=np.zeros((4, 3), np.float32), feat_grid=FeatureGrid(fps=1), video_name='x',
                                  duration=None))
    assert sample['inputs'].shape == (3, 4) and 'gt_segments' not in sample['data_samples']
    assert TADFeatureDataset.__mro__[0].__name__ == 'TADFeatureDataset'
