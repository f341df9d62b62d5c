"""CurvesHook after --resume draws the whole training, not only the epochs since the resume (issue 13, item 6)."""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tasks.engine.hooks import CurvesHook  # noqa: E402


def write_run(work: Path, stamp: str, iters, epochs, test_only=False) -> Path:
    folder = work / stamp / 'vis_data'
    folder.mkdir(parents=True)
    rows = [] if test_only else [dict(lr=1e-3, loss=1.0 / i, iter=i, step=i) for i in iters]
    rows += [{'acc/top1': e / 10, 'step': e} for e in epochs]
    (folder / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in rows) + '{"cut by a ki')
    return work / stamp


def test_resumed_run_draws_the_whole_training(tmp_path):
    write_run(tmp_path, '20260101_100000', range(1, 31), [1, 2, 3])  # killed in epoch 4 (10 iters per epoch)
    write_run(tmp_path, '20260101_110000', [], [3], test_only=True)  # tools/test.py in the same work dir
    current = write_run(tmp_path, '20260101_120000', range(21, 41), [3, 4])  # resumed from epoch_2.pth
    write_run(tmp_path, '20260101_130000', range(1, 5), [1])  # a later run: not part of this one
    hook = CurvesHook()
    runner = SimpleNamespace(iter=20, log_dir=str(current))
    hook.before_train(runner)
    train, val = hook.collect(str(current), earlier=hook._resumed)
    assert [s for s, _ in train['loss']] == list(range(1, 41))
    assert [s for s, _ in val['acc/top1']] == [1, 2, 3, 4]
    hook._draw(runner)
    assert (current / 'curves.png').is_file()

    fresh = CurvesHook()
    fresh.before_train(SimpleNamespace(iter=0))
    train, _ = fresh.collect(str(current), earlier=fresh._resumed)
    assert [s for s, _ in train['loss']] == list(range(21, 41))
