"""FeatureGrid: hand-computed conversions both ways, for scalars, numpy arrays and tensors."""
import json

import numpy as np
import pytest
import torch

from tasks.tad.grid import FeatureGrid

G = FeatureGrid(fps=30, stride=4, clip_len=16)  # VideoMAE V2-g THUMOS14 features


def test_defaults_are_the_clip_centre():
    assert G.offset == 8.0 and G.stride == 4 and G.clip_len == 16 and G.fps == 30.0
    assert FeatureGrid(fps=25, clip_len=8, stride=2).offset == 4.0


def test_index_to_seconds_hand_computed():
    # feature i covers frames [4i, 4i+16), centred at 4i+8
    assert G.clip_frames(0) == (0, 16) and G.clip_frames(10) == (40, 56)
    assert G.index_to_frame(0) == 8 and G.index_to_frame(10) == 48
    assert G.index_to_seconds(0) == pytest.approx(8 / 30)
    assert G.index_to_seconds(10) == pytest.approx(1.6)
    assert G.index_to_seconds(2.5) == pytest.approx(18 / 30)  # fractional grid positions (regressed ends)


def test_seconds_to_index_hand_computed():
    # the reference recipe: grid = (t * fps - 8) / 4
    assert G.seconds_to_index(1.6) == pytest.approx(10)
    assert G.seconds_to_index(8 / 30) == pytest.approx(0)
    assert G.seconds_to_index(0.0) == pytest.approx(-2)  # before the first feature's centre
    g = FeatureGrid(fps=29.97)
    assert g.seconds_to_index(10.0) == pytest.approx((10 * 29.97 - 8) / 4)


def test_arrays_and_tensors_keep_type_shape_and_round_trip():
    seg = np.array([[0, 10], [3, 7]])
    sec = G.index_to_seconds(seg)
    assert isinstance(sec, np.ndarray) and sec.shape == (2, 2) and sec.dtype == np.float64
    np.testing.assert_allclose(sec, [[8 / 30, 48 / 30], [20 / 30, 36 / 30]])
    np.testing.assert_allclose(G.seconds_to_index(sec), seg)
    t = torch.tensor([[0., 10.], [3., 7.]])
    out = G.index_to_seconds(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, 2)
    torch.testing.assert_close(G.seconds_to_index(out), t)
    assert G.index_to_seconds(torch.tensor([10])).dtype == torch.float64  # integer tensors become float
    np.testing.assert_allclose(G.index_to_seconds([0, 10]), [8 / 30, 1.6])


def test_num_features_counts_whole_clips():
    assert G.num_features(15) == 0 and G.num_features(16) == 1 and G.num_features(19) == 1
    assert G.num_features(20) == 2 and G.num_features(100) == 22  # starts 0, 4, ..., 84


def test_fractional_stride_for_resampled_features():
    g = FeatureGrid(fps=30, stride=2.5, clip_len=16)
    assert g.index_to_seconds(4) == pytest.approx((10 + 8) / 30) and g.formula == 'seconds = (2.5 * i + 8) / 30'
    assert FeatureGrid(fps=30, stride=4.0).stride == 4 and isinstance(FeatureGrid(fps=30, stride=4.0).stride, int)


def test_formula_and_dict_round_trip():
    assert G.formula == 'seconds = (4 * i + 8) / 30'
    assert FeatureGrid(fps=29.97).formula == 'seconds = (4 * i + 8) / 29.97'
    assert FeatureGrid(fps=30, offset=8.5).formula == 'seconds = (4 * i + 8.5) / 30'
    d = json.loads(json.dumps(G.to_dict()))
    assert d == dict(fps=30.0, stride=4, clip_len=16, offset=8.0, formula='seconds = (4 * i + 8) / 30')
    assert FeatureGrid.from_dict(d) == G
    generic = G.to_dict(with_fps=False)
    assert 'fps' not in generic and generic['formula'] == 'seconds = (4 * i + 8) / fps'
    assert FeatureGrid.from_dict(generic, fps=25) == G.with_fps(25)


@pytest.mark.parametrize('kwargs, match', [
    (dict(fps=0), 'fps'), (dict(fps=float('nan')), 'fps'), (dict(fps=30, stride=0), 'stride'),
    (dict(fps=30, clip_len=2.5), 'clip_len'), (dict(fps=30, offset=float('inf')), 'offset')])
def test_bad_settings_fail_loudly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureGrid(**kwargs)


def test_from_dict_names_the_source_and_missing_keys():
    with pytest.raises(ValueError, match=r'feats/meta.json: feature grid misses fps'):
        FeatureGrid.from_dict(dict(stride=4, clip_len=16), source='feats/meta.json')
    with pytest.raises(ValueError, match=r'meta.json: FeatureGrid: stride'):
        FeatureGrid.from_dict(dict(stride=-1, clip_len=16, fps=30), source='meta.json')
