"""QA / MC datasets: the official JSON formats, bad input named with file and row, answers outside the answer list
counted and scored wrong; the exact-match and MC metrics; the toy generator."""
import json

import pytest
from mmengine.logging import MMLogger

import tasks  # noqa: F401
from tasks.datasets.annotations import AnnotationError
from tasks.qa import MCAccuracy, QAAccuracy, VideoMCDataset, VideoQADataset, load_answer_list
from tasks.qa.answers import tokenize_answers


def write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return str(p)


def qa_rows():
    return [dict(video='a.mp4', question='What is he doing?', answer='talk', question_id=1),
            dict(video='b.mp4', question='who is it', answer='man', question_id=2),
            dict(video='a.mp4', question='what colour', answer='zebra', question_id=3)]


@pytest.fixture
def folder(tmp_path):
    for v in ('a.mp4', 'b.mp4'):
        (tmp_path / v).write_bytes(b'x')
    return tmp_path


def build_qa(folder, rows, test_mode=True, answers=('talk', 'man', 'dog'), **kw):
    ann = write(folder, 'qa.json', rows)
    al = write(folder, 'answers.json', list(answers)) if answers is not None else None
    return VideoQADataset(ann, answer_list=al, data_prefix=dict(video=str(folder)), test_mode=test_mode, **kw)


def test_qa_dataset_reads_the_official_format_and_counts_answers_outside_the_list(folder):
    logger = MMLogger.get_current_instance()
    ds = build_qa(folder, qa_rows())
    assert len(ds) == 3
    info = ds.get_data_info(0)
    assert info['question'] == 'what is he doing'  # the reference's pre_text
    assert info['answer'] == 'talk' and info['question_id'] == 1 and info['answer_in_list']
    assert info['filename'] == str(folder / 'a.mp4')
    assert ds.not_in_answer_list == [3] and not ds.get_data_info(2)['answer_in_list']
    assert logger is not None


def test_training_answers_with_weights(folder):
    rows = [dict(video='a.mp4', question='q', answer=['x', 'y', 'x', 'x'])]
    ds = build_qa(folder, rows, test_mode=False, answers=None)
    info = ds.get_data_info(0)
    assert info['gt_answer'] == ['x', 'y'] and info['gt_answer_weight'] == [0.75, 0.25]


@pytest.mark.parametrize('row, problem', [
    (dict(video='a.mp4', question='  ?! ', answer='talk', question_id=9), 'empty question'),
    (dict(video='a.mp4', question='', answer='talk', question_id=9), 'empty question'),
    (dict(video='a.mp4', answer='talk', question_id=9), "missing 'question'"),
    (dict(video='a.mp4', question='q', answer='', question_id=9), 'empty answer'),
    (dict(video='a.mp4', question='q', answer=['a'], question_id=9), '"answer" must be a string'),
    (dict(video='a.mp4', question='q', answer='a'), 'question_id'),
    (dict(video='a.mp4', question='q', answer='a', question_id=1), 'question_id 1 is also on row 1'),
    (dict(video='nope.mp4', question='q', answer='a', question_id=9), 'video file not found'),
])
def test_bad_qa_rows_are_named_with_file_and_row(folder, row, problem):
    rows = qa_rows()[:2] + [row]
    with pytest.raises(AnnotationError) as err:
        build_qa(folder, rows)
    msg = str(err.value)
    assert 'qa.json row 3' in msg and problem in msg
    ds = build_qa(folder, rows, on_error='skip')  # skip-and-count drops exactly that row
    assert len(ds) == 2


def test_bad_answer_list(folder):
    for answers, problem in ((['a', 'b', 'a'], 'entry 3: duplicate answer'), (['a', ''], 'entry 2'),
                             ([], 'non-empty')):
        with pytest.raises(AnnotationError, match=problem):
            load_answer_list(write(folder, 'al.json', answers))


def mc_rows():
    return [dict(video='a.mp4', caption=['a man talks', 'a dog', 'a cat', 'a car', 'a boat'], answer=0),
            dict(video='b.mp4', caption=['x', 'y', 'z', 'w', 'v'], answer=4)]


def build_mc(folder, rows, **kw):
    return VideoMCDataset(write(folder, 'mc.json', rows), data_prefix=dict(video=str(folder)), test_mode=True, **kw)


@pytest.mark.parametrize('row, problem', [
    (dict(video='a.mp4', caption=['a', 'b', 'c', 'd', 'e'], answer=5), '"answer" 5 is out of range'),
    (dict(video='a.mp4', caption=['a', 'b', 'c', 'd', 'e'], answer=-1), 'index in [0, 4]'),
    (dict(video='a.mp4', caption=['a', 'b', 'c', 'd', 'e'], answer='1'), 'integer index'),
    (dict(video='a.mp4', caption=['a', 'b', 'c', 'd'], answer=0), '4 options, the first row has 5'),
    (dict(video='a.mp4', caption=['a', '', 'c', 'd', 'e'], answer=0), 'non-empty strings'),
])
def test_bad_mc_rows_are_named_with_file_and_row(folder, row, problem):
    with pytest.raises(AnnotationError) as err:
        build_mc(folder, mc_rows() + [row])
    assert 'mc.json row 3' in str(err.value) and problem in str(err.value)


def test_mc_dataset(folder):
    ds = build_mc(folder, mc_rows())
    assert ds.get_data_info(0)['options'][0] == 'a man talks' and ds.get_data_info(1)['answer_index'] == 4


def test_qa_metric_counts_answers_outside_the_list_as_wrong_and_dumps(tmp_path):
    out = tmp_path / 'preds.json'
    m = QAAccuracy(out_file=str(out))
    samples = [dict(question_id=1, question='q1', answer='talk', pred_answer='talk', answer_in_list=True),
               dict(question_id=2, question='q2', answer='man', pred_answer='dog', answer_in_list=True),
               dict(question_id=3, question='q3', answer='zebra', pred_answer='dog', answer_in_list=False),
               dict(question_id=4, question='q4', answer='dog', pred_answer='dog', answer_in_list=True)]
    m.process({}, samples)
    res = m.compute_metrics(m.results)
    assert res == dict(acc=50.0, num_questions=4, not_in_answer_list=1)
    dumped = json.loads(out.read_text())
    assert [d['correct'] for d in dumped] == [True, False, False, True] and dumped[2]['question_id'] == 3


def test_mc_metric():
    m = MCAccuracy()
    m.process({}, [dict(answer_index=0, pred_index=0), dict(answer_index=3, pred_index=1),
                   dict(answer_index=2, pred_index=2), dict(answer_index=4, pred_index=4)])
    assert m.compute_metrics(m.results) == dict(acc=75.0, num_questions=4)


def test_answers_are_tokenised_as_the_reference(tmp_path):
    from transformers import BertTokenizer
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('\n'.join(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b', 'c', 'd']) + '\n')
    tok = BertTokenizer(str(vocab))
    ids, mask = tokenize_answers(tok, ['a', 'a b c d'], max_length=5)
    # answer + ' [SEP]', then the tokenizer's own [CLS] ... [SEP]; truncation cuts the eos of long answers
    assert ids.tolist() == [[2, 5, 3, 3, 0], [2, 5, 6, 7, 3]]
    assert mask.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]


def test_toy_qa_generator(tmp_path):
    from tasks.toy_data.qa import QA_ANSWERS, make_qa, toy_qa_files
    root = make_qa(tmp_path / 'toy', progress=False, num_train=4, num_val=2)
    f = toy_qa_files(root)
    ds = VideoQADataset(f['val_ann'], answer_list=f['answer_list'], data_prefix=dict(video=f['videos']),
                        test_mode=True)
    assert len(ds) == 4 and not ds.not_in_answer_list
    assert json.loads(open(f['answer_list']).read()) == QA_ANSWERS
    mc = VideoMCDataset(f['mc_ann'], data_prefix=dict(video=f['videos']), test_mode=True)
    assert len(mc) == 2
    vocab = set(open(f['vocab']).read().split())
    words = {w for r in json.load(open(f['train_ann'])) for w in r['question'].replace('?', '').split()}
    assert words <= vocab and set(QA_ANSWERS) <= vocab
