"""AVA annotation errors name the file and line (or proposals key); policy raise (default) or skip."""
import pickle
import shutil

import pytest

import tasks  # noqa: F401
from tasks.ava.dataset import CheckedAVADataset, validate_ava_csv
from tasks.ava.toy import ensure_ava


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('ava') / 'toy'
    ensure_ava(root, progress=False, num_train=2, num_val=1, seconds=6, height=48, width=64, seed=0)
    return root


def build(root, ann_file, proposal_file=None, **kw):
    anno = root / 'annotations'
    return CheckedAVADataset(ann_file=str(ann_file), exclude_file=str(anno / 'train_excluded_timestamps.csv'),
                             label_file=str(anno / 'action_list.pbtxt'),
                             proposal_file=str(proposal_file or anno / 'train_proposals.pkl'),
                             data_prefix=dict(img=str(root / 'rawframes')), timestamp_end=906, pipeline=[], **kw)


def corrupt_copy(root, tmp_path, edits):
    lines = (root / 'annotations/train.csv').read_text().splitlines()
    for index, line in edits.items():
        lines[index] = line
    path = tmp_path / 'train.csv'
    path.write_text('\n'.join(lines) + '\n')
    return path, lines


def test_clean_toy_annotations_pass(toy):
    good, problems = validate_ava_csv(str(toy / 'annotations/train.csv'))
    assert problems == [] and len(good) > 0
    assert len(build(toy, toy / 'annotations/train.csv')) > 0


def test_bad_rows_name_file_and_line(toy, tmp_path):
    lines = (toy / 'annotations/train.csv').read_text().splitlines()
    f = lines[0].split(',')
    out_of_range = ','.join(f[:2] + ['0.1', '0.1', '1.2', '0.5'] + f[6:])
    empty = ','.join(f[:2] + ['0.5', '0.1', '0.4', '0.5'] + f[6:])
    unknown = ','.join(f[:6] + ['99', f[7]])
    path, _ = corrupt_copy(toy, tmp_path, {0: out_of_range, 1: empty, 2: unknown, 3: 'vid,900,0.1'})
    with pytest.raises(ValueError) as err:
        build(toy, path)
    text = str(err.value)
    assert f'{path}:1: box (0.1, 0.1, 1.2, 0.5) outside [0, 1]' in text
    assert f'{path}:2: empty box' in text
    assert f'{path}:3: unknown action id 99' in text
    assert f'{path}:4: malformed row (3 fields' in text
    assert 'on_error="skip"' in text


def test_skip_drops_only_the_bad_rows(toy, tmp_path):
    clean = build(toy, toy / 'annotations/train.csv')
    lines = (toy / 'annotations/train.csv').read_text().splitlines()
    first_key = ','.join(lines[0].split(',')[:2])
    same_frame = [i for i, line in enumerate(lines) if line.startswith(first_key + ',')]
    path, _ = corrupt_copy(toy, tmp_path, {i: 'garbage' for i in same_frame})  # a whole keyframe goes
    skipped = build(toy, path, on_error='skip')
    assert len(skipped) == len(clean) - 1


def test_missing_proposals_key_raises_or_is_dropped(toy, tmp_path):
    with open(toy / 'annotations/train_proposals.pkl', 'rb') as f:
        proposals = pickle.load(f)
    dropped = sorted(proposals)[0]
    del proposals[dropped]
    path = tmp_path / 'proposals.pkl'
    with open(path, 'wb') as f:
        pickle.dump(proposals, f)
    with pytest.raises(ValueError, match=r'1 keyframes have no entry in the proposals file'):
        build(toy, toy / 'annotations/train.csv', proposal_file=path)
    clean = build(toy, toy / 'annotations/train.csv')
    kept = build(toy, toy / 'annotations/train.csv', proposal_file=path, on_error='skip')
    assert len(kept) == len(clean) - 1
    assert dropped not in {kept.get_data_info(i)['img_key'] for i in range(len(kept))}


def test_missing_proposal_file_is_named(toy, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pkl does not exist'):
        build(toy, toy / 'annotations/train.csv', proposal_file=tmp_path / 'nope.pkl')
    shutil.rmtree(tmp_path, ignore_errors=True)
