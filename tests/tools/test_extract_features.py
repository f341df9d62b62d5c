"""tools/extract_features.py and tasks/tad/features.py: [T, C] clip features per video, T counted by hand; batched
decode-once extraction equal to a one-clip-at-a-time loop; the official transform reproduced independently;
features.json and its formula; resuming after a kill; corrupt videos named and counted, --strict; checkpoint
loading (official, Runner, pretraining formats; missing encoder weights are errors)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import decord
import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / 'tools'):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import backbones  # noqa: E402,F401
import tasks  # noqa: E402,F401
from mmengine.registry import init_default_scope  # noqa: E402

from tasks.tad.features import (FeatureExtractor, VideoChunks, build_feature_backbone, extract_per_clip,  # noqa: E402
                                num_clips)
from tasks.tad.grid import FeatureGrid  # noqa: E402

SCRIPT = ROOT / 'tools' / 'extract_features.py'
TOY_CFG = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
PRETRAIN_CFG = ROOT / 'configs/pretrain/videomaev2/vmaev2-vit-tiny-p8_scratch_1xb16-8x2x1-4e_toy-motion.py'
DEAD_PID = 99999999  # above any Linux pid_max
VIDEOS = {'a': (50, 48, 64, 25.0), 'c': (37, 40, 40, 30.0), 'short': (10, 48, 64, 25.0)}  # frames, h, w, fps


def load_script():
    spec = importlib.util.spec_from_file_location('videofm_extract_features', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


xf = load_script()


def write_video(path: Path, num: int, h: int, w: int, fps: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    for i in range(num):
        frame = np.full((h, w, 3), (i * 9) % 200, np.uint8)
        x = (i * 3) % (w - 8)
        frame[8:20, x:x + 8] = rng.integers(0, 255, 3, dtype=np.uint8)
        writer.write(frame)
    writer.release()


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Three videos (one shorter than a clip), a truncated one, a list, and an official-layout checkpoint of the
    toy config's backbone."""
    init_default_scope('videofm')
    root = tmp_path_factory.mktemp('xf')
    videos = root / 'videos'
    videos.mkdir()
    for i, (name, spec) in enumerate(VIDEOS.items()):
        write_video(videos / f'{name}.mp4', *spec, seed=i)
    (videos / 'bad.mp4').write_bytes((videos / 'a.mp4').read_bytes()[:3000])
    (root / 'list.txt').write_text('a.mp4 0\nc.mp4 1\nshort.mp4 2\nbad.mp4 3\n')
    torch.manual_seed(0)
    backbone, _ = build_feature_backbone(TOY_CFG, None)
    torch.save({'model': backbone.state_dict()}, root / 'ckpt.pth')
    return root


def cli(data, out, *extra):
    return [str(TOY_CFG), str(data / 'ckpt.pth'), '--video-list', str(data / 'list.txt'), '--video-root',
            str(data / 'videos'), '--out', str(out), '--batch-size', '3', '--quiet', *extra]


def test_num_clips_by_hand():
    # official range(0, n - 15, 4): 50 frames -> starts 0, 4, ..., 32 -> 9 clips
    assert num_clips(50, 16, 4) == 9 and num_clips(37, 16, 4) == 6 and num_clips(16, 16, 4) == 1
    assert num_clips(19, 16, 4) == 1 and num_clips(20, 16, 4) == 2 and num_clips(50, 16, 16) == 3
    assert num_clips(10, 16, 4) == 1  # padded
    assert num_clips(0, 16, 4) == 0
    assert num_clips(50, 4, 6) == 8  # stride > clip_len: starts 0, 6, ..., 42


@pytest.mark.parametrize('mode', ['official', 'normalized'])
def test_batched_equals_one_clip_at_a_time(data, mode):
    backbone, info = build_feature_backbone(TOY_CFG, data / 'ckpt.pth')
    for clip_len, stride, batch in ((16, 4, 3), (16, 4, 64), (16, 4, 1), (8, 8, 2), (4, 6, 3)):
        ex = FeatureExtractor(backbone, clip_len, stride, mode, info['mean'], info['std'], batch_size=batch)
        for name, (frames, *_rest) in VIDEOS.items():
            feats, meta = ex.extract(data / 'videos' / f'{name}.mp4')
            ref = extract_per_clip(ex, data / 'videos' / f'{name}.mp4')
            assert feats.shape == (num_clips(frames, clip_len, stride), 96) and feats.dtype == np.float32
            np.testing.assert_allclose(feats, ref, atol=1e-5, rtol=0)
            assert meta == dict(num_frames=frames, fps=VIDEOS[name][3], padded=frames < clip_len)
            assert np.abs(np.diff(feats, axis=0)).max(initial=1) > 1e-3  # the clips differ


def test_official_transform_reproduced_independently(data):
    """Feature 2 of a.mp4 from its own decode + the official transform (frames / 255, interpolate the (C, T, H, W)
    clip to 32 x 32, no mean/std) + forward_features -> mean -> fc_norm written out here."""
    backbone, info = build_feature_backbone(TOY_CFG, data / 'ckpt.pth')
    feats, _ = FeatureExtractor(backbone, 16, 4, 'official', batch_size=4).extract(data / 'videos' / 'a.mp4')
    frames = decord.VideoReader(str(data / 'videos' / 'a.mp4')).get_batch(list(range(8, 24))).asnumpy()
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 255                  # (3, 16, H, W)
    clip = F.interpolate(clip, size=(32, 32), mode='bilinear', align_corners=False)
    with torch.no_grad():
        tokens = backbone.forward_features(clip[None])
        expected = F.layer_norm(tokens.mean(1), (96,), backbone.fc_norm.weight, backbone.fc_norm.bias, 1e-6)
    np.testing.assert_allclose(feats[2], expected[0].numpy(), atol=1e-5, rtol=0)
    # normalized mode: the config's data_preprocessor mean / std (toy: 127.5 / 64)
    norm, _ = FeatureExtractor(backbone, 16, 4, 'normalized', info['mean'], info['std'], batch_size=4).extract(
        data / 'videos' / 'a.mp4')
    with torch.no_grad():
        expected = backbone.forward_head(backbone.forward_features(((clip * 255 - 127.5) / 64)[None]))
    np.testing.assert_allclose(norm[2], expected[0].numpy(), atol=1e-5, rtol=0)


def test_worker_decoding_matches(data):
    """VideoChunks in 2 DataLoader workers: chunks of different videos interleave, each video's arrive in order."""
    backbone, _ = build_feature_backbone(TOY_CFG, data / 'ckpt.pth')
    ex = FeatureExtractor(backbone, 16, 4, batch_size=2)
    paths = [str(data / 'videos' / f'{n}.mp4') for n in ('a', 'bad', 'c', 'short')]
    loader = torch.utils.data.DataLoader(VideoChunks(paths, 16, 4, 2), batch_size=None, num_workers=2)
    got, errors = {}, []
    for item in loader:
        if 'error' in item:
            errors.append(paths[item['video']])
            continue
        feats = ex.add_chunk(item['video'], item)
        if feats is not None:
            got[paths[item['video']]] = feats
    assert errors == [paths[1]] and sorted(got) == sorted(set(paths) - {paths[1]})
    for path, feats in got.items():
        np.testing.assert_allclose(feats, extract_per_clip(ex, path), atol=1e-5, rtol=0)


def test_cli_outputs_json_and_strict(data, tmp_path, capsys):
    out = tmp_path / 'out'
    assert xf.main(cli(data, out, '--workers', '0')) == 0
    err = capsys.readouterr().err
    bad = str(data / 'videos' / 'bad.mp4')
    assert sum(line.startswith(f'failed {bad}: ') for line in err.splitlines()) == 1, err
    assert f'padded {data / "videos" / "short.mp4"}: 10 frames < clip_len 16' in err
    assert sorted(p.name for p in out.iterdir()) == ['a.npy', 'c.npy', 'features.json', 'short.npy']
    for name, t in (('a', 9), ('c', 6), ('short', 1)):
        arr = np.load(out / f'{name}.npy')
        assert arr.shape == (t, 96) and arr.dtype == np.float32
    meta = json.loads((out / 'features.json').read_text())
    assert (meta['stride'], meta['clip_len'], meta['offset'], meta['feature_dim']) == (4, 16, 8.0, 96)
    assert meta['formula'] == 'seconds = (4 * i + 8) / fps'
    assert meta['input']['mode'] == 'official' and meta['input']['size'] == [32, 32] and 'mean' not in meta['input']
    assert meta['backbone']['type'] == 'VideoViT' and meta['backbone']['embed_dim'] == 96
    assert meta['checkpoint'] == str((data / 'ckpt.pth').resolve()) and meta['dtype'] == 'fp32'
    assert meta['videos']['c'] == dict(video='c.mp4', fps=30.0, num_frames=37, num_features=6, padded=False,
                                       formula='seconds = (4 * i + 8) / 30')
    assert meta['videos']['short']['padded'] and meta['videos']['short']['num_features'] == 1
    assert list(meta['failed']) == ['bad'] and meta['failed']['bad']['video'] == bad
    # the formula by hand: feature 5 of c (30 fps) covers frames [20, 36) and stands for frame 28 = 0.9333 s
    grid = FeatureGrid.from_dict(meta, fps=meta['videos']['c']['fps'])
    assert grid.index_to_seconds(5) == pytest.approx(28 / 30) and grid.clip_frames(5) == (20, 36)
    assert grid.seconds_to_index(28 / 30) == pytest.approx(5)
    # --strict: the failed video makes the exit code 1; finished videos are reused
    assert xf.main(cli(data, out, '--workers', '0', '--strict')) == 1
    assert 'extracted 0 videos' in capsys.readouterr().out


def test_resume_after_kill(data, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    backbone, _ = build_feature_backbone(TOY_CFG, data / 'ckpt.pth')
    done = FeatureExtractor(backbone, 16, 4, batch_size=3).extract(data / 'videos' / 'c.mp4')[0]
    np.save(out / 'c.npy', done)                       # finished before the kill
    (out / f'a.npy.tmp-{DEAD_PID}').write_bytes(b'half')  # the killed run's half-written file
    (out / 'short.npy').write_bytes(b'not an npy')  # damaged by hand: extracted again
    before = (out / 'c.npy').stat().st_mtime_ns
    assert xf.main(cli(data, out, '--workers', '0')) == 0
    captured = capsys.readouterr()
    assert 'removed 1 temporary file(s)' in captured.err
    assert 'extracted 2 videos' in captured.out and 'reused 1' in captured.out
    assert (out / 'c.npy').stat().st_mtime_ns == before  # skipped, not re-extracted
    assert not list(out.glob('*.tmp-*'))
    assert np.load(out / 'a.npy').shape == (9, 96) and np.load(out / 'short.npy').shape == (1, 96)
    meta = json.loads((out / 'features.json').read_text())
    assert meta['videos']['c']['num_features'] == 6 and meta['videos']['c']['fps'] == 30.0  # described anyway
    # other settings into the same folder stop the run, unless --overwrite
    assert xf.main(cli(data, out, '--workers', '0', '--stride', '8')) == 2
    assert 'stride: 4 -> 8' in capsys.readouterr().err
    assert xf.main(cli(data, out, '--workers', '0', '--stride', '8', '--overwrite')) == 0
    assert np.load(out / 'a.npy').shape == (5, 96)


def test_checkpoint_loading(data, tmp_path):
    sd = torch.load(data / 'ckpt.pth')['model']
    ref, _ = build_feature_backbone(TOY_CFG, data / 'ckpt.pth')
    # a Runner checkpoint (state_dict with backbone.* + meta, what tools/train.py writes) loads the backbone
    runner = {'meta': {}, 'state_dict': {**{f'backbone.{k}': v for k, v in sd.items()},
                                         'cls_head.fc_cls.weight': torch.zeros(4, 96)}}
    torch.save(runner, tmp_path / 'runner.pth')
    bb, info = build_feature_backbone(TOY_CFG, tmp_path / 'runner.pth')
    assert 'videofm' in info['load'] and all(torch.equal(v, ref.state_dict()[k]) for k, v in bb.state_dict().items())
    # missing encoder weights are an error
    torch.save({'model': {k: v for k, v in sd.items() if not k.startswith('blocks.3.')}}, tmp_path / 'part.pth')
    with pytest.raises(RuntimeError, match='missing in the checkpoint: blocks.3'):
        build_feature_backbone(TOY_CFG, tmp_path / 'part.pth')
    # a pretraining checkpoint (encoder.* ending in norm) into a mean-pooling backbone: fc_norm would be random
    pre = {'model': {**{f'encoder.{k}': v for k, v in sd.items() if not k.startswith('fc_norm')},
                     'encoder.norm.weight': torch.ones(96), 'encoder.norm.bias': torch.zeros(96)}}
    torch.save(pre, tmp_path / 'pre.pth')
    with pytest.raises(RuntimeError, match='no fc_norm.weight .* use the pretraining config'):
        build_feature_backbone(TOY_CFG, tmp_path / 'pre.pth')
    bb, info = build_feature_backbone(PRETRAIN_CFG, tmp_path / 'pre.pth')  # its pretraining config: mean(norm(x))
    assert info['config_kind'] == 'pretraining' and not bb.use_mean_pooling


@pytest.mark.slow
def test_cli_subprocess_workers_and_help(data, tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(SCRIPT), *cli(data, out, '--workers', '2', '--strict')],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert f'failed {data / "videos" / "bad.mp4"}: ' in proc.stderr and 'Traceback' not in proc.stderr
    assert 'extracted 3 videos' in proc.stdout and 'failed 1: ' in proc.stdout
    np.testing.assert_allclose(np.load(out / 'a.npy'), _in_process(data), atol=1e-5, rtol=0)
    proc = subprocess.run([sys.executable, str(SCRIPT), '--help'], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0 and 'official' in proc.stdout and 'normalized' in proc.stdout


def _in_process(data):
    backbone, _ = build_feature_backbone(TOY_CFG, data / 'ckpt.pth')
    return FeatureExtractor(backbone, 16, 4, batch_size=5).extract(data / 'videos' / 'a.mp4')[0]


def test_benchmark_extract_runs(tmp_path, capsys):
    """tools/analysis/benchmark_extract.py at a tiny size: both paths give the same features; JSON out."""
    spec = importlib.util.spec_from_file_location('videofm_benchmark_extract',
                                                  ROOT / 'tools' / 'analysis' / 'benchmark_extract.py')
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / 'bench.json'
    assert bench.main(['--arch', 'small', '--img-size', '32', '--frames', '40', '--height', '48', '--width', '64',
                       '--batch-size', '4', '--repeats', '1', '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['clips'] == 7 and result['max_abs_diff'] <= 1e-5
    assert result['batched']['clips_per_s'] > 0 and result['per_clip']['clips_per_s'] > 0
    assert set(result['decode_only']) == {'batched_clips_per_s', 'per_clip_clips_per_s', 'speedup'}


def test_bf16_autocast_close_to_fp32(data):
    """--dtype bf16 (the CUDA default) runs the backbone in bfloat16 autocast; here on the CPU: close to fp32."""
    backbone, _ = build_feature_backbone(TOY_CFG, data / 'ckpt.pth')
    fp32, _ = FeatureExtractor(backbone, 16, 4, batch_size=4).extract(data / 'videos' / 'a.mp4')
    bf16, _ = FeatureExtractor(backbone, 16, 4, dtype='bf16', batch_size=4).extract(data / 'videos' / 'a.mp4')
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    assert not np.array_equal(bf16, fp32) and np.abs(bf16 - fp32).max() < 0.1
