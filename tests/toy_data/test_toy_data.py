"""Tests for tasks/toy_data/ and tools/data/make_toy.py (toy mmaction2 video datasets)."""
import importlib.util
import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import decord
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))

from tasks.toy_data import recognition as toy_data  # noqa: E402
from tasks.toy_data.datasets import ToyVideoDataset  # noqa: E402
from tasks.toy_data.recognition import ensure_recognition, make_recognition  # noqa: E402

SMALL = dict(num_train=40, num_val=12, num_classes=4, num_frames=12, size=40, seed=3)
LINE_RE = re.compile(r'^videos/(train|val)/(\d{5})\.mp4 (\d+)$')


def read_list(root: Path, split: str) -> List[Tuple[str, int]]:
    """Parse ``root/<split>_list.txt`` strictly (mmaction2 VideoDataset format)."""
    entries = []
    for line in (root / f'{split}_list.txt').read_text().splitlines():
        m = LINE_RE.match(line)
        assert m is not None, f'bad list line {line!r}'
        assert m.group(1) == split
        entries.append((line.split(' ')[0], int(m.group(3))))
    return entries


def decode(path: Path) -> np.ndarray:
    vr = decord.VideoReader(str(path), num_threads=1)
    return vr.get_batch(list(range(len(vr)))).asnumpy()


def estimate_direction(frames: np.ndarray) -> float:
    """Dominant motion angle of a clip (radians, counter-clockwise from +x, y up), estimated
    independently of the generator: foreground = pixels far from the clip's median colour;
    fit a line to the foreground centroid over time."""
    pixels = frames.reshape(-1, 3).astype(np.float64)
    background = np.median(pixels, axis=0)
    dist = np.linalg.norm(frames.astype(np.float64) - background, axis=-1)  # (T, H, W)
    mask = dist > 50.0
    ys, xs = np.mgrid[0:frames.shape[1], 0:frames.shape[2]]
    t_idx, cx, cy = [], [], []
    for t in range(frames.shape[0]):
        if mask[t].sum() < 4:
            continue
        t_idx.append(t)
        cx.append(xs[mask[t]].mean())
        cy.append(ys[mask[t]].mean())
    assert len(t_idx) >= 2, 'no foreground found'
    vx = np.polyfit(t_idx, cx, 1)[0]
    vy = np.polyfit(t_idx, cy, 1)[0]
    return math.atan2(-vy, vx)


def nearest_class(angle: float, num_classes: int) -> int:
    return int(round(angle / (2 * math.pi / num_classes))) % num_classes


@pytest.fixture(scope='module')
def small_root(tmp_path_factory) -> Path:
    return make_recognition(tmp_path_factory.mktemp('toy') / 'rec', progress=False, **SMALL)


def test_layout_and_format(small_root: Path) -> None:
    meta = json.loads((small_root / 'toy_meta.json').read_text())
    assert meta['format_version'] == toy_data.FORMAT_VERSION
    assert meta['kind'] == 'recognition'
    assert meta['params'] == {**SMALL, 'fps': 25}
    assert (small_root / 'classes.txt').read_text().splitlines() == [
        'move_right', 'move_up', 'move_left', 'move_down'
    ]
    for split, count in (('train', SMALL['num_train']), ('val', SMALL['num_val'])):
        entries = read_list(small_root, split)
        assert [p for p, _ in entries] == [f'videos/{split}/{i:05d}.mp4' for i in range(count)]
        labels = [label for _, label in entries]
        assert all(0 <= label < SMALL['num_classes'] for label in labels)
        per_class = Counter(labels)
        assert len(per_class) == SMALL['num_classes']
        assert max(per_class.values()) - min(per_class.values()) <= 1
        assert labels != sorted(labels), 'labels should be shuffled'
        for rel, _ in entries:
            frames = decode(small_root / rel)
            assert frames.shape == (SMALL['num_frames'], SMALL['size'], SMALL['size'], 3)
    assert not list(small_root.parent.glob('.rec.tmp-*')), 'temporary folder left behind'


def test_deterministic(small_root: Path, tmp_path: Path) -> None:
    again = make_recognition(tmp_path / 'again', progress=False, **SMALL)
    for name in ('train_list.txt', 'val_list.txt', 'classes.txt', 'toy_meta.json'):
        assert (again / name).read_bytes() == (small_root / name).read_bytes(), name
    for split in ('train', 'val'):
        for rel, _ in read_list(small_root, split):
            np.testing.assert_array_equal(decode(again / rel), decode(small_root / rel), err_msg=rel)

    other = make_recognition(tmp_path / 'other', progress=False, **{**SMALL, 'seed': SMALL['seed'] + 1})
    rels = [rel for rel, _ in read_list(small_root, 'train')][:5]
    for rel in rels:
        assert not np.array_equal(decode(other / rel), decode(small_root / rel)), rel


@pytest.mark.parametrize('num_classes', [4, 8])
def test_motion_direction_identifies_label(small_root: Path, tmp_path: Path, num_classes: int) -> None:
    if num_classes == SMALL['num_classes']:
        root = small_root
    else:
        root = make_recognition(tmp_path / 'k', progress=False,
                                **{**SMALL, 'num_classes': num_classes, 'num_train': 24, 'num_val': 8})
    correct, total = 0, 0
    for split in ('train', 'val'):
        for rel, label in read_list(root, split):
            pred = nearest_class(estimate_direction(decode(root / rel)), num_classes)
            correct += int(pred == label)
            total += 1
    assert correct / total >= 0.9, f'direction matches label for only {correct}/{total} clips'


def test_frames_vary_and_shapes_stay_inside(small_root: Path) -> None:
    rel, _ = read_list(small_root, 'train')[0]
    frames = decode(small_root / rel).astype(np.int16)
    assert np.abs(np.diff(frames, axis=0)).mean() > 1.0, 'background noise should change per frame'
    # Shapes stay inside: the foreground area is about the same in the first and the last frame.
    background = np.median(frames.reshape(-1, 3), axis=0)
    area = (np.linalg.norm(frames - background, axis=-1) > 50).sum(axis=(1, 2))
    assert area[-1] >= 0.7 * area[0] and area[0] >= 0.7 * area[-1]


def _mtimes(root: Path) -> Dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob('*')}


def test_ensure_reuses_and_rejects_mismatch(tmp_path: Path) -> None:
    params = dict(num_train=4, num_val=2, num_frames=4, size=32)
    root = ensure_recognition(tmp_path / 'r', progress=False, **params)
    before = _mtimes(root)
    assert len(before) > 5
    assert ensure_recognition(root, progress=False, **params) == root
    assert _mtimes(root) == before, 'ensure_recognition rewrote an identical dataset'

    with pytest.raises(ValueError, match=r'different parameters.*num_val.*delete the folder') as err:
        ensure_recognition(root, progress=False, **{**params, 'num_val': 3})
    assert str(err.value).startswith(f'{root} holds a toy dataset')  # the user's folder, not our source file
    with pytest.raises(ValueError, match='different parameters'):
        ensure_recognition(root, progress=False)  # defaults differ from the stored parameters
    with pytest.raises(FileExistsError, match='ensure_recognition'):
        make_recognition(root, progress=False, **params)
    with pytest.raises(TypeError, match='unknown'):
        ensure_recognition(root, num_trian=4)
    assert _mtimes(root) == before

    not_toy = tmp_path / 'not_toy'
    not_toy.mkdir()
    (not_toy / 'something.txt').write_text('x')
    with pytest.raises(ValueError, match='not a toy dataset'):
        ensure_recognition(not_toy, progress=False, **params)


def test_invalid_params_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='^size must be an even'):  # names the parameter, not a source file
        make_recognition(tmp_path / 'a', size=33, progress=False)
    with pytest.raises(ValueError, match='decord'):
        make_recognition(tmp_path / 'a', size=48, progress=False)
    with pytest.raises(ValueError, match='num_train must be >= num_classes'):
        make_recognition(tmp_path / 'b', num_train=2, num_classes=4, progress=False)
    with pytest.raises(ValueError, match='num_frames'):
        make_recognition(tmp_path / 'c', num_frames=1, progress=False)
    assert not list(tmp_path.iterdir())


def test_lost_race_uses_winner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = dict(num_train=4, num_val=2, num_frames=4, size=32)
    root = tmp_path / 'race'
    original = toy_data._generate_recognition

    def generate_then_lose(out: Path, params: dict, advance) -> dict:
        extra = original(out, params, advance)
        monkeypatch.setattr(toy_data, '_generate_recognition', original)
        make_recognition(tmp_path / 'other', progress=False, **params)  # "another process" finishes first
        (tmp_path / 'other').rename(root)
        (root / 'winner').write_text('')
        return extra

    monkeypatch.setattr(toy_data, '_generate_recognition', generate_then_lose)
    assert make_recognition(root, progress=False, **params) == root
    assert (root / 'winner').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['race'], 'temporary folder left behind'


def test_failure_cleans_up_and_names_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    class ClosedWriter:

        def __init__(self, *args, **kwargs) -> None:
            pass

        def isOpened(self) -> bool:
            return False

    monkeypatch.setattr(toy_data.cv2, 'VideoWriter', ClosedWriter)
    with pytest.raises(RuntimeError, match=r'could not open .*00000\.mp4'):
        make_recognition(tmp_path / 'fail', num_train=4, num_val=2, num_frames=4, size=32, progress=False)
    assert not list(tmp_path.iterdir()), 'failed generation left files behind'


def _load_cli():
    spec = importlib.util.spec_from_file_location('make_toy_cli', REPO_ROOT / 'tools/data/make_toy.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cli(tmp_path: Path) -> None:
    out = tmp_path / 'cli_rec'
    args = ['recognition', '--out', str(out), '--num-train', '8', '--num-val', '4', '--num-frames', '6',
            '--size', '32', '--seed', '1', '--quiet']
    proc = subprocess.run([sys.executable, str(REPO_ROOT / 'tools/data/make_toy.py'), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    assert 'ready at' in proc.stdout
    assert len(read_list(out, 'train')) == 8 and len(read_list(out, 'val')) == 4
    assert decode(out / 'videos/val/00003.mp4').shape == (6, 32, 32, 3)
    assert json.loads((out / 'toy_meta.json').read_text())['params']['seed'] == 1

    cli = _load_cli()
    before = _mtimes(out)
    assert cli.main(args) == 0  # same parameters: reused
    assert _mtimes(out) == before
    assert cli.main([*args[:-1], '--num-val', '5', '--quiet']) == 2  # mismatch: clear error, exit 2
    assert cli.main([*args, '--overwrite', '--num-val', '5']) == 0
    assert len(read_list(out, 'val')) == 5

    help_text = cli.build_parser().format_help()
    assert 'recognition' in help_text
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([])  # a dataset kind is required


def _toy_dataset_kwargs(root: Path) -> dict:
    return dict(
        ann_file=str(root / 'train_list.txt'),
        toy=dict(root=str(root), num_train=8, num_val=4, num_frames=16, size=64, progress=False),
        data_prefix=dict(video=str(root)),
        pipeline=[
            dict(type='DecordInit'),
            dict(type='SampleFrames', clip_len=8, frame_interval=1, num_clips=1),
            dict(type='DecordDecode'),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs')
        ])


def test_toy_video_dataset_creates_data(tmp_path: Path) -> None:
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    root = tmp_path / 'ds'
    assert not root.exists()
    dataset = ToyVideoDataset(**_toy_dataset_kwargs(root))
    assert (root / 'toy_meta.json').is_file()
    assert len(dataset) == 8
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (1, 3, 8, 64, 64)
    label = int(sample['data_samples'].gt_label)
    assert label == read_list(root, 'train')[0][1]

    with pytest.raises(ValueError, match='toy=dict'):
        ToyVideoDataset(ann_file='x', toy=dict(num_train=8), data_prefix=dict(video=''),
                                 pipeline=[])


def test_toy_video_dataset_distributed(tmp_path: Path) -> None:
    """Single-process gloo group: rank 0 generates, then everyone passes the barrier."""
    import torch.distributed as dist
    from mmengine.registry import init_default_scope
    if dist.is_initialized():
        pytest.skip('a process group is already initialised in this pytest session')
    init_default_scope('mmaction')
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "pg"}', rank=0, world_size=1)
    try:
        root = tmp_path / 'ds'
        dataset = ToyVideoDataset(**_toy_dataset_kwargs(root))
        assert len(dataset) == 8
        assert (root / 'toy_meta.json').is_file()
    finally:
        dist.destroy_process_group()
