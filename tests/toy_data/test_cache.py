"""The toy-data cache (tasks/toy_data/cache.py) with a trivial generator: built once, atomically, parameters
checked, ``overwrite`` only deletes toy datasets, progress goes to stderr."""
import json

import pytest

from tasks.toy_data.cache import META_NAME, ToyDataMismatch, build_toy


class Counting:
    """Writes ``n`` files, counting its calls."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, out, advance):
        self.calls += 1
        for i in range(3):
            if i == self.fail_at:
                raise RuntimeError('generator failed')
            (out / f'{i}.txt').write_text(str(i))
            advance()
        return dict(extra='x')


def build(root, gen, version=1, **kwargs):
    params = kwargs.pop('params', dict(n=3))
    return build_toy(root, 'demo', version, params, gen, total=3, progress=False, **kwargs)


def test_built_once_meta_last_and_reused(tmp_path):
    gen = Counting()
    root = build(tmp_path / 'd', gen)
    meta = json.loads((root / META_NAME).read_text())
    assert meta == dict(format_version=1, kind='demo', params=dict(n=3), extra='x')
    assert build(root, gen) == root and gen.calls == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['d']  # no temporary folder left


def test_mismatch_overwrite_and_not_a_toy_dataset(tmp_path):
    gen = Counting()
    root = build(tmp_path / 'd', gen)
    with pytest.raises(ToyDataMismatch, match=r'different parameters \(n: on disk 3, requested 4\)'):
        build(root, gen, params=dict(n=4))
    with pytest.raises(ToyDataMismatch, match='format_version: on disk 1, requested 2'):
        build(root, gen, version=2)
    assert build(root, gen, params=dict(n=4), overwrite=True) == root and gen.calls == 2
    assert json.loads((root / META_NAME).read_text())['params'] == dict(n=4)
    with pytest.raises(FileExistsError, match=r'call ensure_demo\(\)'):
        build(root, gen, exist_ok=False, params=dict(n=4))
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'keep.txt').write_text('mine')
    with pytest.raises(ToyDataMismatch, match='not a toy dataset'):
        build(other, gen)
    with pytest.raises(ToyDataMismatch, match='refusing to overwrite'):
        build(other, gen, overwrite=True)
    assert (other / 'keep.txt').read_text() == 'mine'


def test_failed_generation_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match='generator failed'):
        build(tmp_path / 'd', Counting(fail_at=1))
    assert not list(tmp_path.iterdir())


def test_progress_goes_to_stderr(tmp_path, capsys):
    build_toy(tmp_path / 'd', 'demo', 1, dict(n=3), Counting(), total=3, progress=True)
    out, err = capsys.readouterr()
    assert out == '' and 'toy demo data -> d' in err and '100%' in err
