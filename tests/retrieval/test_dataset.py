"""RetrievalDataset: the three caption modes, packing, and bad input named with file and row."""
import json

import pytest
import torch

import tasks  # noqa: F401
from tasks.datasets.annotations import AnnotationError
from tasks.datasets.policy import UnreadableVideoError
from tasks.retrieval import RetrievalDataset, video_hash
from tasks.toy_data.retrieval import ensure_retrieval

PIPELINE = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=2, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(16, 16), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackRetrievalInputs'),
]


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    return ensure_retrieval(tmp_path_factory.mktemp('toy') / 'rt', progress=False, num_train=3, num_val=4)


def write(tmp_path, rows, name='ann.json'):
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return str(path)


def rows3():
    return [dict(video='videos/train/00000.mp4', caption=['a b', 'c d', 'e']),
            dict(video='videos/train/00001.mp4', caption='f g'),
            dict(video='videos/train/00002.mp4', caption=['h'])]


@pytest.mark.parametrize('mode,texts,txt2vid', [
    ('multi', ['a b', 'c d', 'e', 'f g', 'h'], [0, 0, 0, 1, 2]),
    ('paragraph', ['a b c d e', 'f g', 'h'], [0, 1, 2]),
])
def test_modes_texts_and_indices(toy, tmp_path, mode, texts, txt2vid):
    ann = write(tmp_path, rows3())
    test = RetrievalDataset(ann, PIPELINE, caption_mode=mode, data_prefix=dict(video=str(toy)), test_mode=True)
    assert test.texts == texts and test.txt2vid == txt2vid
    assert test.vid2txt == [[i for i, v in enumerate(txt2vid) if v == j] for j in range(3)]
    assert len(test) == 3
    train = RetrievalDataset(ann, PIPELINE, caption_mode=mode, data_prefix=dict(video=str(toy)))
    assert [train.get_data_info(i)['text'] for i in range(len(train))] == texts
    ids = [train.get_data_info(i)['video_id'] for i in range(len(train))]
    assert ids == [video_hash(str(toy / r['video'])) for r in rows3() for _ in
                   range(len(r['caption']) if mode == 'multi' and isinstance(r['caption'], list) else 1)]
    sample = train[0]
    ds = sample['data_samples']
    assert sample['inputs'].shape == (1, 3, 2, 16, 16) and ds.text == texts[0] and ds.video_id == ids[0]
    assert test[1]['data_samples'].video_index == 1


def test_single_mode_on_the_toy_set(toy):
    ds = RetrievalDataset(str(toy / 'val.json'), PIPELINE, data_prefix=dict(video=str(toy)), test_mode=True)
    assert len(ds.texts) == 4 and ds.txt2vid == [0, 1, 2, 3]
    assert all(t.split()[-1] in ('right', 'up', 'left', 'down') for t in ds.texts)


@pytest.mark.parametrize('row,kind,mode', [
    (dict(video='videos/train/00000.mp4'), 'no "caption"', 'single'),
    (dict(video='videos/train/00000.mp4', caption='  '), 'empty caption', 'single'),
    (dict(video='videos/train/00000.mp4', caption=['ok', '']), 'empty caption', 'multi'),
    (dict(video='videos/train/00000.mp4', caption=['a', 'b']), "list of 2 in caption_mode='single'", 'single'),
    (dict(video='videos/train/nope.mp4', caption='a'), 'video file not found: .*nope.mp4', 'paragraph'),
    (dict(caption='a'), 'one of "video" / "image"', 'single'),
    (dict(video='videos/train/00000.mp4', caption=3), 'must be a string or a list of strings', 'multi'),
])
def test_bad_rows_named_with_file_and_row(toy, tmp_path, row, kind, mode):
    rows = rows3()
    rows[1] = row
    rows[0]['caption'] = 'fine'
    rows[2]['caption'] = 'fine too'
    ann = write(tmp_path, rows)
    with pytest.raises(AnnotationError, match=rf'{ann} row 2: .*{kind}'):
        RetrievalDataset(ann, PIPELINE, caption_mode=mode, data_prefix=dict(video=str(toy)))
    ds = RetrievalDataset(ann, PIPELINE, caption_mode=mode, data_prefix=dict(video=str(toy)), on_error='skip')
    assert ds.texts == ['fine', 'fine too'] and ds.txt2vid == [0, 1]


def test_not_a_list_and_unreadable_video(toy, tmp_path):
    with pytest.raises(AnnotationError, match='expected a JSON list'):
        RetrievalDataset(write(tmp_path, dict(video='x')), PIPELINE)
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(b'not a video at all')
    ann = write(tmp_path, [dict(video=str(bad), caption='x'), dict(video=str(toy / 'videos/val/00000.mp4'),
                                                                    caption='y')])
    with pytest.raises(UnreadableVideoError, match='bad.mp4'):
        RetrievalDataset(ann, PIPELINE, test_mode=True)[0]
    train = RetrievalDataset(ann, PIPELINE)
    out = train[0]  # skipped and replaced by the good one
    assert out['data_samples'].text == 'y' and train.skip_log.read()[0][0] == str(bad)


def test_image_rows_are_one_frame_clips(tmp_path):
    import cv2
    import numpy as np
    cv2.imwrite(str(tmp_path / 'im.png'), np.full((20, 24, 3), 200, np.uint8))
    ann = write(tmp_path, [dict(image='im.png', caption='a grey picture')])
    ds = RetrievalDataset(ann, [dict(type='LoadImageAsClip'), dict(type='Resize', scale=(16, 16), keep_ratio=False),
                                dict(type='FormatShape', input_format='NCTHW'), dict(type='PackRetrievalInputs')],
                          data_prefix=dict(video=str(tmp_path)))
    out = ds[0]
    assert out['inputs'].shape == (1, 3, 1, 16, 16) and torch.all(out['inputs'] == 200)
