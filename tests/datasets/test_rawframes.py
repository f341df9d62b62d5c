"""Rawframe lists: parsing with file:line errors, the checked frame decoder (same frames as mmaction2's
RawFrameDecode, clear errors where it crashes), the bad input policy and repeated augmentation that reads every
frame file once."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmaction.datasets import RawframeDataset  # noqa: E402
from mmaction.datasets.transforms import RawFrameDecode  # noqa: E402

from tasks.datasets import rawframes  # noqa: E402
from tasks.datasets.annotations import AnnotationError, parse_rawframe_list  # noqa: E402
from tasks.datasets.rawframes import (CheckedRawFrameDecode, RawframeListDataset,  # noqa: E402
                                    RepeatAugRawframeListDataset)
from tasks.datasets.policy import UnreadableVideoError  # noqa: E402

H, W = 24, 32


def frame(i: int, h: int = H, w: int = W) -> np.ndarray:
    """A BGR frame whose content identifies its index: gray level 10 i, a green bar at x = 2 i in the top half."""
    img = np.full((h, w, 3), (10 * i) % 200, np.uint8)
    img[:h // 2, (2 * i) % w:(2 * i) % w + 3] = (0, 255, 0)
    return img


def write_frames(folder: Path, n: int, tmpl: str = 'img_{:05}.jpg', start: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / tmpl.format(start + i)), frame(i), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


@pytest.fixture
def frames_root(tmp_path):
    """rawframes/{a: 12 frames, b: 20 frames, c: 8 frames}."""
    root = tmp_path / 'rawframes'
    for name, n in (('a', 12), ('b', 20), ('c', 8)):
        write_frames(root / name, n)
    return root


def write_list(path: Path, rows) -> Path:
    path.write_text(''.join(f'{r}\n' for r in rows))
    return path


# ---------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('with_offset,multi_class,test_mode', [
    (False, False, False), (True, False, False), (False, True, False), (False, False, True)])
def test_parse_equals_mmaction2_on_good_files(tmp_path, frames_root, with_offset, multi_class, test_mode):
    if with_offset:
        rows = ['a 2 10 1', 'b 0 20 0', 'c 1 7 3']
    elif multi_class:
        rows = ['a 12 1 2', 'b 20 0', 'c 8 3 1 0']
    elif test_mode:
        rows = ['a 12 1', 'b 20', 'c 8 0']
    else:
        rows = ['a 12 1', 'b 20 0', 'c 8 3']
    ann = write_list(tmp_path / 'list.txt', rows)
    ours, problems = parse_rawframe_list(str(ann), str(frames_root), with_offset=with_offset,
                                         multi_class=multi_class, num_classes=4, test_mode=test_mode)
    assert problems == []
    theirs = RawframeDataset(str(ann), pipeline=[], data_prefix=dict(img=str(frames_root)), with_offset=with_offset,
                             multi_class=multi_class, num_classes=4, test_mode=test_mode).load_data_list()
    assert ours == theirs


def test_parse_reports_every_bad_row_with_its_line(tmp_path, frames_root):
    ann = write_list(tmp_path / 'list.txt', [
        'a 12 1',        # 1 good
        'b 20',          # 2 no label
        'b twenty 0',    # 3 frame count not an integer
        'c 0 1',         # 4 zero frames
        'c 8 9',         # 5 label >= num_classes
        'nowhere 8 1',   # 6 folder missing
        'c 9 1',         # 7 one frame more than extracted
        'a 12 1 2',      # 8 two labels, not multi-class
    ])
    data, problems = parse_rawframe_list(str(ann), str(frames_root), num_classes=4)
    assert [d['frame_dir'] for d in data] == [str(frames_root / 'a')]
    got = {where: (kind, detail) for where, kind, detail in problems}
    assert sorted(got) == [f'line {i}' for i in range(2, 9)]
    assert got['line 2'][0] == got['line 8'][0] == 'malformed row'
    assert got['line 3'][0] == got['line 4'][0] == 'bad frame count'
    assert got['line 5'] == ('bad label', "unknown label 9 (>= num_classes 4) in 'c 8 9'")
    assert got['line 6'][0] == 'missing frames' and 'folder not found' in got['line 6'][1]
    assert got['line 7'][0] == 'missing frames'
    assert "frame 9 not found (filename_tmpl='img_{:05}.jpg', start_index=1, total_frames=9)" in got['line 7'][1]
    assert got['line 7'][1].endswith(str(frames_root / 'c' / 'img_00009.jpg'))


def test_wrong_filename_template_fails_at_build_time_naming_file_line_and_template(tmp_path, frames_root):
    ann = write_list(tmp_path / 'list.txt', ['a 12 1', 'b 20 0'])
    with pytest.raises(AnnotationError) as err:
        RawframeListDataset(ann_file=str(ann), pipeline=[], data_prefix=dict(img=str(frames_root)),
                            filename_tmpl='{:06}.jpg', num_classes=4)
    msg = str(err.value)
    assert msg.startswith(f'{ann} line 1: frame 1 not found')
    assert "filename_tmpl='{:06}.jpg'" in msg and '1 more bad row(s): line 2' in msg


def test_on_error_skip_drops_bad_rows(tmp_path, frames_root):
    ann = write_list(tmp_path / 'list.txt', ['a 12 1', 'nowhere 4 0', 'c 8 7', 'b 20 2'])
    ds = RawframeListDataset(ann_file=str(ann), pipeline=[], data_prefix=dict(img=str(frames_root)), num_classes=4,
                             on_error='skip')
    assert [Path(ds.get_data_info(i)['frame_dir']).name for i in range(len(ds))] == ['a', 'b']


# ---------------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------------
def _results(frame_dir, inds, **extra):
    return dict(frame_dir=str(frame_dir), filename_tmpl='img_{:05}.jpg', modality='RGB',
                frame_inds=np.asarray(inds), **extra)


def test_decode_equals_mmaction2_raw_frame_decode(frames_root):
    inds = np.array([2, 4, 4, 13, 6, 2, 3, 3])  # 1-based file numbers (start_index 1), repeats
    boxes = np.array([[0.1, 0.2, 0.5, 0.9]], np.float32)
    extra = dict(offset=0, gt_bboxes=boxes.copy(), proposals=boxes.copy())
    ours = CheckedRawFrameDecode()(_results(frames_root / 'b', inds, **extra))
    theirs = RawFrameDecode()(_results(frames_root / 'b', inds, **dict(extra, gt_bboxes=boxes.copy(),
                                                                         proposals=boxes.copy())))
    assert len(ours['imgs']) == 8
    for a, b in zip(ours['imgs'], theirs['imgs']):
        np.testing.assert_array_equal(a, b)
    for key in ('img_shape', 'original_shape'):
        assert ours[key] == theirs[key] == (H, W)
    np.testing.assert_allclose(ours['gt_bboxes'], [[3.2, 4.8, 16., 21.6]], rtol=1e-6)
    np.testing.assert_array_equal(ours['proposals'], theirs['proposals'])
    # RGB order and the right file: imgs[1] is file 4 (i = 3), whose green bar covers x = 6..8
    assert ours['imgs'][1][2, 7].tolist() == pytest.approx([0, 255, 0], abs=40)
    assert ours['imgs'][1][2, 12].tolist() == pytest.approx([30, 30, 30], abs=8)
    # repeats are copies: an in-place change of one leaves the other
    ours['imgs'][1][:] = 0
    assert ours['imgs'][2].any()


def test_decode_with_offset_and_flow(tmp_path):
    root = tmp_path / 'flow'
    root.mkdir()
    for i in range(1, 6):
        cv2.imwrite(str(root / f'x_{i:05}.jpg'), np.full((H, W), 20 * i, np.uint8))
        cv2.imwrite(str(root / f'y_{i:05}.jpg'), np.full((H, W), 100 + 20 * i, np.uint8))
    res = dict(frame_dir=str(root), filename_tmpl='{}_{:05}.jpg', modality='Flow', offset=1,
               frame_inds=np.array([1, 3]))
    out = CheckedRawFrameDecode()(dict(res))
    ref = RawFrameDecode()(dict(res))
    assert [img.shape for img in out['imgs']] == [(H, W, 2)] * 2
    for a, b in zip(out['imgs'], ref['imgs']):
        np.testing.assert_array_equal(a, b)
    assert abs(int(out['imgs'][1][0, 0, 0]) - 80) <= 2 and abs(int(out['imgs'][1][0, 0, 1]) - 180) <= 2


@pytest.mark.parametrize('damage', ['empty', 'text', 'truncated', 'missing', 'resized'])
def test_bad_frame_file_raises_naming_it(frames_root, damage):
    path = frames_root / 'a' / 'img_00003.jpg'
    if damage == 'empty':
        path.write_bytes(b'')
    elif damage == 'text':
        path.write_text('not a jpeg')
    elif damage == 'truncated':
        path.write_bytes(path.read_bytes()[:40])
    elif damage == 'missing':
        path.unlink()
    else:
        cv2.imwrite(str(path), frame(2, h=H // 2))
    with pytest.raises(UnreadableVideoError) as err:
        CheckedRawFrameDecode()(_results(frames_root / 'a', [1, 2, 3, 4]))
    msg = str(err.value)
    assert (str(path) if damage != 'resized' else f'frame 3 in {frames_root / "a"}') in msg
    assert {'empty': 'does not decode', 'text': 'does not decode', 'truncated': 'does not decode',
            'missing': 'not found', 'resized': f'{W}x{H // 2}, the first read frame is {W}x{H}'}[damage] in msg


def test_mmaction2_decoder_error_on_a_corrupt_frame_has_no_file_name(frames_root):
    """The measured failure mode CheckedRawFrameDecode exists for (tasks/datasets/rawframes.py docstring)."""
    path = frames_root / 'a' / 'img_00002.jpg'
    path.write_text('not a jpeg')
    with pytest.raises(cv2.error, match='cvtColor') as err:
        RawFrameDecode()(_results(frames_root / 'a', [1, 2]))
    assert str(path) not in str(err.value)


# ---------------------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------------------
PIPE = [dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=1),
        dict(type='CheckedRawFrameDecode'),
        dict(type='Resize', scale=(16, 16), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')]


def test_corrupt_frame_is_skipped_in_training_and_raises_in_testing(tmp_path, frames_root):
    init_default_scope('videofm')
    for i in range(1, 13):
        (frames_root / 'a' / f'img_{i:05}.jpg').write_bytes(b'broken')  # first/last exist: build passes
    ann = write_list(tmp_path / 'list.txt', ['a 12 1', 'b 20 0', 'c 8 3'])
    kw = dict(ann_file=str(ann), data_prefix=dict(img=str(frames_root)), num_classes=4, pipeline=PIPE)
    train = RawframeListDataset(**kw)
    np.random.seed(0)
    sample = train[0]  # 'a' fails, MMEngine refetches another index
    assert sample['inputs'].shape == (1, 3, 4, 16, 16)
    records = train.skip_log.read()
    assert records and records[0][0] == str(frames_root / 'a')
    assert 'does not decode as an image' in records[0][1]
    test = RawframeListDataset(**kw, test_mode=True)
    with pytest.raises(UnreadableVideoError, match=f'cannot load {frames_root / "a"} in test mode'):
        test[0]
    assert test[1]['inputs'].shape == (1, 3, 4, 16, 16)


@pytest.mark.parametrize('sample_once', [True, False])
def test_repeat_aug_reads_every_frame_file_once(tmp_path, frames_root, monkeypatch, sample_once):
    init_default_scope('videofm')
    reads = []
    real_get = rawframes.fileio.get

    def counting_get(path, **kw):
        reads.append(path)
        return real_get(path, **kw)

    monkeypatch.setattr(rawframes.fileio, 'get', counting_get)
    ann = write_list(tmp_path / 'list.txt', ['b 20 2'])
    pipe = [dict(PIPE[0], clip_len=6, frame_interval=1)] + PIPE[1:]
    ds = RepeatAugRawframeListDataset(ann_file=str(ann), data_prefix=dict(img=str(frames_root)), num_classes=4,
                                      pipeline=pipe, num_repeats=3, sample_once=sample_once)
    np.random.seed(3)
    out = ds[0]
    assert len(out) == 3 and all(s['inputs'].shape == (1, 3, 6, 16, 16) for s in out)
    assert all(s['data_samples'].gt_label.item() == 2 for s in out)
    drawn = []
    for s in out:  # each copy shows 6 consecutive frames, identified by their gray level (bottom rows)
        levels = s['inputs'][0, 1, :, -1, 0].numpy().astype(int)
        idx = np.round(levels / 10).astype(int)
        assert np.all(np.diff(idx) == 1), idx
        drawn.append(tuple(idx))
    assert len(reads) == len(set(reads)) == len({i for clip in drawn for i in clip})  # each file read once
    assert len(set(drawn)) == (1 if sample_once else 3)


def test_repeat_aug_needs_sampler_then_decoder(tmp_path, frames_root):
    init_default_scope('videofm')
    ann = write_list(tmp_path / 'list.txt', ['b 20 2'])
    with pytest.raises(ValueError, match='needs a pipeline that starts'):
        RepeatAugRawframeListDataset(ann_file=str(ann), data_prefix=dict(img=str(frames_root)), num_classes=4,
                                     pipeline=[PIPE[1], PIPE[0]] + PIPE[2:])
