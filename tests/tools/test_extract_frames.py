"""tools/data/extract_frames.py: video list -> JPEG frame folders + a rawframe list that mmaction2 loads; the
bad input policy (corrupt videos skipped, bad rows exit 2), reuse, crash leftovers, --overwrite, --workers."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import decord
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tasks.datasets.policy import UnreadableVideoError  # noqa: E402
from tasks.toy_data.recognition import ensure_recognition  # noqa: E402

SCRIPT = ROOT / 'tools' / 'data' / 'extract_frames.py'
TOY = dict(num_train=8, num_val=4, num_classes=4, num_frames=16, size=32, seed=0)
DEAD_PID = 99999999  # above any Linux pid_max (4194304), so no process has it


def load_script():
    spec = importlib.util.spec_from_file_location('videofm_extract_frames', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # process_job must be picklable for --workers
    spec.loader.exec_module(module)
    return module


ef = load_script()


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory) -> Path:
    return ensure_recognition(tmp_path_factory.mktemp('data') / 'toy', progress=False, **TOY)


@pytest.fixture
def toy(toy_root, tmp_path) -> Path:
    """A private copy of the toy data that a test may add files to."""
    return Path(shutil.copytree(toy_root, tmp_path / 'toy'))


def read_video(path: Path) -> np.ndarray:
    reader = decord.VideoReader(str(path), num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def read_list(path: Path):
    rows = (line.split() for line in path.read_text().splitlines())
    return [(frame_dir, int(total), int(label)) for frame_dir, total, label in rows]


def input_rows(video_list: Path):
    rows = (line.split() for line in video_list.read_text().splitlines())
    return [(path, int(label)) for path, label in rows]


def write_video(path: Path, frames: np.ndarray) -> None:
    """RGB frames (T, H, W, 3) -> mp4v file."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 25.0, (width, height))
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()


def frame_files(frame_dir: Path):
    return sorted(os.listdir(frame_dir))


def mtimes(out: Path):
    return {str(p): p.stat().st_mtime_ns for p in out.rglob('*.jpg')}


def test_frames_and_list_match_the_videos(toy_root, tmp_path, capsys):
    out = tmp_path / 'out'
    assert ef.main([str(toy_root / 'train_list.txt'), str(toy_root), str(out), '--quiet']) == 0
    assert 'extracted 8 videos (128 frames), reused 0, skipped 0' in capsys.readouterr().out
    rows = read_list(out / 'train_list_rawframes.txt')  # the default --out-list
    expected = input_rows(toy_root / 'train_list.txt')
    assert [(d, label) for d, _, label in rows] == [(p[:-len('.mp4')], label) for p, label in expected]
    for (frame_dir, total, _), (video, _) in zip(rows, expected):
        frames = read_video(toy_root / video)
        assert total == len(frames) == 16
        assert frame_files(out / frame_dir) == [f'img_{i:05d}.jpg' for i in range(1, total + 1)]
        for i, frame in enumerate(frames, 1):
            image = cv2.imread(str(out / frame_dir / f'img_{i:05d}.jpg'))[:, :, ::-1]  # BGR -> RGB
            assert image.shape == frame.shape == (32, 32, 3)
            assert np.abs(image.astype(np.float64) - frame).mean() < 6, (frame_dir, i)
    assert not list(out.rglob('*.tmp-*'))


def test_list_loads_with_mmaction_rawframe_dataset(toy_root, tmp_path):
    from mmaction.datasets import RawframeDataset
    from mmengine.registry import init_default_scope

    init_default_scope('mmaction')
    out = tmp_path / 'out'
    out_list = tmp_path / 'lists' / 'val.txt'
    assert ef.main([str(toy_root / 'val_list.txt'), str(toy_root), str(out), '--out-list', str(out_list),
                    '--quiet']) == 0
    pipeline = [dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1, test_mode=True),
                dict(type='RawFrameDecode')]
    dataset = RawframeDataset(ann_file=str(out_list), pipeline=pipeline, data_prefix=dict(img=str(out)),
                              test_mode=True)
    expected = input_rows(toy_root / 'val_list.txt')
    assert len(dataset) == len(expected) == 4
    for i, (video, label) in enumerate(expected):
        info = dataset.get_data_info(i)
        assert info['frame_dir'] == os.path.join(str(out), video[:-len('.mp4')])
        assert info['total_frames'] == 16 and info['label'] == label
        sample = dataset[i]  # the frames that mmaction2 reads are the video's frames
        clip = np.stack(sample['imgs'])
        assert clip.shape == (16, 32, 32, 3)
        assert np.abs(clip.astype(np.float64) - read_video(toy_root / video)).mean() < 6


def test_short_side_keeps_the_aspect_ratio(toy, tmp_path, capsys):
    clip = read_video(toy / 'videos/train/00000.mp4')[:6]  # smooth content: JPEG keeps it close
    write_video(toy / 'wide.mp4', np.stack([cv2.resize(f, (56, 32)) for f in clip]))
    write_video(toy / 'tall.mp4', np.stack([cv2.resize(f, (32, 56)) for f in clip]))
    video_list = tmp_path / 'list.txt'
    video_list.write_text('videos/train/00000.mp4 0\nwide.mp4 1\ntall.mp4 2\n')
    out = tmp_path / 'out'
    assert ef.main([str(video_list), str(toy), str(out), '--short-side', '16', '--quiet']) == 0
    rows = read_list(out / 'list_rawframes.txt')
    shapes = {d: cv2.imread(str(out / d / 'img_00001.jpg')).shape for d, _, _ in rows}
    assert shapes == {'videos/train/00000': (16, 16, 3), 'wide': (16, 28, 3), 'tall': (28, 16, 3)}
    # shrunk with INTER_AREA from the decoded frame
    decoded = read_video(toy / 'wide.mp4')[0]
    image = cv2.imread(str(out / 'wide' / 'img_00001.jpg'))[:, :, ::-1]
    expected = cv2.resize(decoded, (28, 16), interpolation=cv2.INTER_AREA)
    assert np.abs(image.astype(np.float64) - expected).mean() < 8
    assert ef.output_size(32, 56, None) == (32, 56) and ef.output_size(240, 320, 256) == (256, 341)


def test_corrupt_videos_are_skipped_and_counted(toy, tmp_path, capsys):
    data = (toy / 'videos/train/00001.mp4').read_bytes()
    noise = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)
    (toy / 'random.mp4').write_bytes(noise.tobytes())
    (toy / 'truncated.mp4').write_bytes(data[:len(data) // 2])
    writer = cv2.VideoWriter(str(toy / 'no_frames.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 25.0, (32, 32))
    writer.release()
    good = input_rows(toy / 'train_list.txt')[:3]
    lines = [f'{good[0][0]} {good[0][1]}', 'random.mp4 1', f'{good[1][0]} {good[1][1]}', 'truncated.mp4 2',
             'no_frames.mp4 3', f'{good[2][0]} {good[2][1]}']
    video_list = tmp_path / 'list.txt'
    video_list.write_text('\n'.join(lines) + '\n')
    out = tmp_path / 'out'
    args = [str(video_list), str(toy), str(out), '--quiet']
    assert ef.main(args) == 0
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if line.startswith('skipped ')]
    assert len(skipped) == 3, captured.err
    for line, name in zip(skipped, ['random.mp4', 'truncated.mp4', 'no_frames.mp4']):
        assert re.fullmatch(rf'skipped {re.escape(str(toy / name))}: \w+: .+', line), line
    assert 'extracted 3 videos (48 frames), reused 0, skipped 3' in captured.out
    rows = read_list(out / 'list_rawframes.txt')
    assert rows == [(p[:-len('.mp4')], 16, label) for p, label in good]
    # no folder for a bad video
    assert not [p for p in out.iterdir() if p.name not in ('videos', 'list_rawframes.txt')]
    assert ef.main(args + ['--strict']) == 1
    assert 'extracted 0 videos (0 frames), reused 3, skipped 3' in capsys.readouterr().out
    with pytest.raises(UnreadableVideoError, match='no frames|cannot find video stream'):
        ef.extract_video(toy / 'no_frames.mp4', tmp_path / 'single')
    assert not (tmp_path / 'single').exists() and not list(tmp_path.glob('single.tmp-*'))


@pytest.mark.slow
def test_malformed_row_exits_2_naming_file_and_line(toy_root, tmp_path):
    video_list = tmp_path / 'bad_list.txt'
    video_list.write_text('videos/train/00000.mp4 0\na.mp4 x\n')
    cmd = [sys.executable, str(SCRIPT), str(video_list), str(toy_root), str(tmp_path / 'out')]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 2, proc.stderr
    assert re.search(r"bad_list\.txt line 2: label 'x' is not an integer", proc.stderr), proc.stderr
    assert 'Traceback' not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.strip().endswith('; fix the list file') and 'on_error' not in proc.stderr, proc.stderr
    assert not (tmp_path / 'out').exists()  # nothing extracted


def test_other_list_errors_exit_2(toy, tmp_path, capsys):
    toy_root = toy
    out = str(tmp_path / 'out')
    cases = {
        'videos/train/00000.mp4 0\nvideos/train/gone.mp4 1\n': r'line 2: video file not found: .*gone\.mp4',
        'videos/train/00000.mp4 0\nvideos/train/00001.mp4 1 2\n': r'line 2: 3 field\(s\)',
        # a file that exists but is not a video: skipped, not a list error
        'videos/train/00000.mp4 0\nclasses.txt 1\n': None,
    }
    for i, (text, message) in enumerate(cases.items()):
        video_list = tmp_path / f'list{i}.txt'
        video_list.write_text(text)
        code = ef.main([str(video_list), str(toy_root), out, '--quiet'])
        err = capsys.readouterr().err
        if message is None:
            assert code == 0 and 'skipped' in err
        else:
            assert code == 2 and re.search(rf'list{i}\.txt {message}', err), err
    shutil.copy(toy_root / 'videos/train/00000.mp4', tmp_path / 'outside.mp4')
    (tmp_path / 'rel.txt').write_text('../outside.mp4 0\n')
    assert ef.main([str(tmp_path / 'rel.txt'), str(toy_root), out]) == 2
    assert re.search(r'rel\.txt line 1: .*not inside VIDEO_ROOT', capsys.readouterr().err)
    with pytest.raises(SystemExit) as exc:
        ef.main([str(toy_root / 'val_list.txt'), str(toy_root), out, '--tmpl', 'img.jpg'])
    assert exc.value.code == 2


def test_rerun_reuses_folders_removes_leftovers_and_overwrite_extracts(toy_root, tmp_path, capsys):
    out = tmp_path / 'out'
    args = [str(toy_root / 'train_list.txt'), str(toy_root), str(out), '--quiet']
    assert ef.main(args) == 0
    first_list = (out / 'train_list_rawframes.txt').read_text()
    videos = out / 'videos' / 'train'
    # a run killed while extracting 00001: its folder was never renamed into place, the temporary one is left
    shutil.rmtree(videos / '00001')
    partial = videos / f'00001.tmp-{DEAD_PID}'
    partial.mkdir()
    (partial / 'img_00001.jpg').write_bytes(b'partial')
    leftover_list = out / f'train_list_rawframes.txt.tmp-{DEAD_PID}'
    leftover_list.write_text('half a list')
    (videos / '00003' / 'marker').write_text('kept unless re-extracted')
    before = mtimes(out)
    capsys.readouterr()
    assert ef.main(args) == 0
    captured = capsys.readouterr()
    assert 'extracted 1 videos (16 frames), reused 7, skipped 0' in captured.out
    assert not partial.exists() and not leftover_list.exists() and not list(out.rglob('*.tmp-*'))
    after = mtimes(out)
    assert {k: v for k, v in after.items() if '/00001' not in k} == {
        k: v for k, v in before.items() if '/00001' not in k}  # nothing else rewritten
    assert frame_files(videos / '00001') == [f'img_{i:05d}.jpg' for i in range(1, 17)]
    assert (out / 'train_list_rawframes.txt').read_text() == first_list
    assert ef.main(args + ['--overwrite']) == 0
    assert 'extracted 8 videos (128 frames), reused 0, skipped 0' in capsys.readouterr().out
    assert not (videos / '00003' / 'marker').exists()  # the folder was replaced
    assert (out / 'train_list_rawframes.txt').read_text() == first_list


def test_workers_give_the_same_result(toy_root, tmp_path):
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f'out{workers}'
        assert ef.main([str(toy_root / 'train_list.txt'), str(toy_root), str(out), '--workers', str(workers),
                        '--tmpl', 'frame_{:04d}.jpg', '--quality', '90', '--quiet']) == 0
        outs[workers] = out
    text = (outs[1] / 'train_list_rawframes.txt').read_text()
    assert text == (outs[2] / 'train_list_rawframes.txt').read_text()
    assert [row[0] for row in read_list(outs[1] / 'train_list_rawframes.txt')] == [
        p[:-len('.mp4')] for p, _ in input_rows(toy_root / 'train_list.txt')]
    for frame_dir, total, _ in read_list(outs[1] / 'train_list_rawframes.txt'):
        names = frame_files(outs[1] / frame_dir)
        assert names == [f'frame_{i:04d}.jpg' for i in range(1, total + 1)]
        assert names == frame_files(outs[2] / frame_dir)
        for name in names:
            assert (outs[1] / frame_dir / name).read_bytes() == (outs[2] / frame_dir / name).read_bytes()
