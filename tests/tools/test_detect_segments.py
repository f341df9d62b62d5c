"""tools/demo/detect_segments.py: one raw video -> in-memory features (tiny random backbone) -> a tiny random
ActionFormer -> segments JSON (ActivityNet prediction format, seconds) and a timeline PNG with ground truth."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / 'tools'):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import tasks  # noqa: E402,F401
from mmengine.registry import init_default_scope  # noqa: E402

from tasks.tad.features import FeatureExtractor, build_feature_backbone  # noqa: E402
from tasks.tad.metric import read_predictions  # noqa: E402

SCRIPT = ROOT / 'tools' / 'demo' / 'detect_segments.py'
TOY_CFG = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
CLASSES = ['run', 'jump', 'sit']
DETECTOR_CFG = f"""
default_scope = 'videofm'
model = dict(type='ActionFormer', in_channels=96, num_classes=3, embed_dims=16, num_heads=2, head_dims=16,
             window_size=5, drop_path=0.0)
test_dataloader = dict(dataset=dict(type='TADFeatureDataset', classes={CLASSES!r}))
"""


def load_script():
    spec = importlib.util.spec_from_file_location('videofm_detect_segments', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    init_default_scope('videofm')
    root = tmp_path_factory.mktemp('demo')
    writer = cv2.VideoWriter(str(root / 'clip.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 20.0, (64, 48))
    for i in range(120):  # 6 s at 20 fps -> (120 - 16) // 4 + 1 = 27 features
        frame = np.full((48, 64, 3), 30, np.uint8)
        frame[10:20, (i * 2) % 40:(i * 2) % 40 + 8] = 250
        writer.write(frame)
    writer.release()
    torch.manual_seed(0)
    backbone, _ = build_feature_backbone(TOY_CFG, None)
    torch.save({'model': backbone.state_dict()}, root / 'backbone.pth')
    (root / 'detector.py').write_text(DETECTOR_CFG)
    from backbones.registry import MODELS
    from mmengine.config import Config
    detector = MODELS.build(Config.fromfile(str(root / 'detector.py')).model)
    torch.save({'meta': {}, 'state_dict': detector.state_dict()}, root / 'detector.pth')
    (root / 'gt.json').write_text(json.dumps({'database': {'clip': {'subset': 'test', 'duration': 6.0, 'annotations': [
        {'segment': [1.0, 2.5], 'label': 'jump'}, {'segment': [4.0, 5.0], 'label': 'sit'}]}}}))
    return root


def test_demo_json_and_png(files, tmp_path, capsys):
    demo = load_script()
    out_json, out_png = tmp_path / 'seg.json', tmp_path / 'timeline.png'
    segments, info = demo.main([str(files / 'clip.mp4'), str(files / 'detector.py'), str(files / 'detector.pth'),
                                '--backbone-config', str(TOY_CFG), '--backbone-ckpt', str(files / 'backbone.pth'),
                                '--gt', str(files / 'gt.json'), '--out-json', str(out_json), '--out-png', str(out_png),
                                '--score-thr', '0', '--device', 'cpu'])
    assert info['num_frames'] == 120 and info['fps'] == 20.0 and info['num_features'] == 27
    assert info['formula'] == 'seconds = (4 * i + 8) / 20' and info['duration'] == 6.0
    data = json.loads(out_json.read_text())
    assert list(data['results']) == ['clip'] and data['results']['clip'] == segments and segments
    for s in segments:
        assert set(s) == {'segment', 'label', 'score'} and s['label'] in CLASSES
        assert 0 <= s['segment'][0] <= s['segment'][1] <= 6.0 and 0 <= s['score'] <= 1
    scores = [s['score'] for s in segments]
    assert scores == sorted(scores, reverse=True)
    assert read_predictions(str(out_json))['clip']['scores'].shape == (len(segments),)  # eval_tad.py reads it
    assert data['external_data']['video_info']['num_features'] == 27
    image = cv2.imread(str(out_png))
    assert image is not None and image.shape[0] > 50 and image.shape[1] > 200
    assert f'{len(segments)} segments with score >= 0.0' in capsys.readouterr().out

    # the same features as the extraction tool makes
    backbone, _ = build_feature_backbone(TOY_CFG, files / 'backbone.pth')
    feats, _ = FeatureExtractor(backbone, 16, 4, batch_size=7).extract(files / 'clip.mp4')
    assert feats.shape == (27, 96)


def test_demo_settings_from_features_json(files, tmp_path):
    demo = load_script()
    meta = dict(config=str(TOY_CFG), checkpoint=str(files / 'backbone.pth'), clip_len=8, stride=8,
                input=dict(mode='normalized'), dtype='fp32')
    (tmp_path / 'features.json').write_text(json.dumps(meta))
    _, info = demo.main([str(files / 'clip.mp4'), str(files / 'detector.py'), str(files / 'detector.pth'),
                         '--features-json', str(tmp_path / 'features.json'), '--device', 'cpu'])
    assert info['num_features'] == (120 - 8) // 8 + 1 and info['formula'] == 'seconds = (8 * i + 4) / 20'


@pytest.mark.slow
def test_demo_subprocess_help():
    proc = subprocess.run([sys.executable, str(SCRIPT), '--help'], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0 and '--backbone-config' in proc.stdout and '--out-png' in proc.stdout
