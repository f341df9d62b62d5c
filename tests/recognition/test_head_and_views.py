"""Multi-view averaging against a hand computation, the K710 -> subset label map, decode-once testing,
clip-consistent RandAugment, and the demo end to end."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

import tasks  # noqa: F401
from backbones.registry import MODELS, TRANSFORMS
from tasks.recognition import VideoClsHead

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(type='VideoViT', img_size=32, num_frames=4, patch_size=16, tubelet_size=2, embed_dim=32, depth=1,
            num_heads=2)


def recognizer(**head):
    init_default_scope('videofm')
    model = MODELS.build(dict(
        type='Recognizer3D', backbone=TINY,
        cls_head=dict(type='VideoClsHead', in_channels=32, init_scale=1.0, **head),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[0.] * 3, std=[1.] * 3, format_shape='NCTHW')))
    model.init_weights()
    return model.eval()


def test_multiview_score_is_mean_of_softmax_over_views():
    torch.manual_seed(0)
    model = recognizer(num_classes=5)
    from mmaction.structures import ActionDataSample
    views = torch.randn(2, 15, 3, 4, 32, 32)  # 2 videos x (5 clips x 3 crops)
    data = dict(inputs=list(views), data_samples=[ActionDataSample().set_gt_label(0) for _ in range(2)])
    with torch.no_grad():
        out = model.test_step(data)
        for v in range(2):
            probs = model.cls_head(model.backbone(views[v])).softmax(-1)  # (15, 5)
            assert torch.allclose(out[v].pred_score, probs.mean(0), atol=1e-6)


def test_label_map_selects_source_rows_and_loads_source_checkpoint():
    head = VideoClsHead(num_classes=3, in_channels=8, num_source_classes=6, label_map=[5, 0, 3], init_scale=1.)
    head.init_weights()
    sd = head.state_dict()
    assert sd['fc_cls.weight'].shape == (6, 8) and 'label_index' not in sd  # the 710-row checkpoint loads
    full = VideoClsHead(num_classes=6, in_channels=8, init_scale=1.)
    full.init_weights()
    head.load_state_dict(full.state_dict())
    x = torch.randn(4, 8)
    assert torch.equal(head(x), full(x)[:, [5, 0, 3]])
    # through a recognizer: the metric sees 3 classes
    model = recognizer(num_classes=3, num_source_classes=6, label_map=[5, 0, 3])
    from mmaction.structures import ActionDataSample
    out = model.test_step(dict(inputs=[torch.randn(2, 3, 4, 32, 32)], data_samples=[ActionDataSample()]))
    assert out[0].pred_score.shape == (3,)


def test_label_map_file_and_errors(tmp_path):
    path = tmp_path / 'map.json'
    path.write_text('[2, 1]')
    head = VideoClsHead(num_classes=2, in_channels=4, num_source_classes=3, label_map=str(path))
    assert head.label_index.tolist() == [2, 1]
    with pytest.raises(ValueError, match='num_source_classes'):
        VideoClsHead(num_classes=2, in_channels=4, label_map=[0, 1])
    with pytest.raises(ValueError, match='outside'):
        VideoClsHead(num_classes=2, in_channels=4, num_source_classes=3, label_map=[0, 3])
    with pytest.raises(ValueError, match='entries'):
        VideoClsHead(num_classes=3, in_channels=4, num_source_classes=3, label_map=[0, 1])


class _CountingReader:
    def __init__(self, reader, calls):
        self.reader, self.calls = reader, calls

    def __len__(self):
        return len(self.reader)

    def get_batch(self, inds):
        self.calls.append(len(inds))
        return self.reader.get_batch(inds)


def test_multiview_test_pipeline_decodes_once(toy_video):
    """SampleFrames(num_clips=5) + DecordDecode: one get_batch for all 5 clips; ThreeCrop cuts the crops."""
    init_default_scope('videofm')
    calls = []
    pipe = [TRANSFORMS.build(t) for t in [
        dict(type='DecordInit'), dict(type='SampleFrames', clip_len=16, frame_interval=4, num_clips=5, test_mode=True),
        dict(type='DecordDecode'), dict(type='Resize', scale=(-1, 32)), dict(type='ThreeCrop', crop_size=32),
        dict(type='FormatShape', input_format='NCTHW')]]
    results = dict(filename=str(toy_video), start_index=0, modality='RGB')
    for i, t in enumerate(pipe):
        results = t(results)
        if i == 0:
            results['video_reader'] = _CountingReader(results['video_reader'], calls)
    assert calls == [80]  # 5 clips x 16 frames in one call
    assert results['imgs'].shape == (15, 3, 16, 32, 32)


def test_rand_augment_is_clip_consistent():
    t = TRANSFORMS.build(dict(type='VideoRandAugment', magnitude=9, num_layers=3, prob=1.0))
    frame = np.random.RandomState(0).randint(0, 255, (24, 24, 3), np.uint8)
    for _ in range(10):
        out = t(dict(imgs=[frame.copy() for _ in range(4)]))['imgs']
        assert all(np.array_equal(out[0], f) for f in out[1:])
    with pytest.raises(KeyError):
        TRANSFORMS.build(dict(type='VideoRandAugment', ops=['Nope']))


@pytest.mark.slow
def test_demo_prints_top5_and_writes_video(tmp_path, toy_video):
    cfg = tmp_path / 'demo_cfg.py'
    cfg.write_text(f"_base_ = [{str(ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py')!r}]\n"
                   "model = dict(backbone=dict(depth=1), cls_head=dict(num_classes=6))\n")
    from mmengine.config import Config
    init_default_scope('videofm')
    model = MODELS.build(Config.fromfile(str(cfg)).model)
    model.init_weights()
    from safetensors.torch import save_file
    ckpt = tmp_path / 'model.safetensors'  # demos read every checkpoint format (tasks.engine.runner)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    labels = tmp_path / 'labels.txt'
    labels.write_text('\n'.join(f'class_{i}' for i in range(6)))
    out = tmp_path / 'out' / 'demo.mp4'
    demo = ROOT / 'tools/demo/recognize.py'
    proc = subprocess.run([sys.executable, demo, toy_video, cfg, ckpt, '--labels', labels, '--out-file', out],
                          capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if re.fullmatch(r'\d+ class_\d: [0-9.]+', line)]
    assert len(lines) == 5, proc.stdout
    import cv2
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 72
    bad = subprocess.run([sys.executable, demo, tmp_path / 'missing.mp4', cfg, ckpt, '--labels', labels],
                         capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert bad.returncode != 0 and 'missing.mp4' in bad.stderr
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video')
    bad = subprocess.run([sys.executable, demo, broken, cfg, ckpt, '--labels', labels],
                         capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert bad.returncode != 0 and 'cannot read video' in bad.stderr and 'broken.mp4' in bad.stderr
