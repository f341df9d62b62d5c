"""One config naming scheme for every task:
configs/<task>/<method>/{model}_{pretrain}_{NxB}-{clip}-{schedule}_{data}.py (test-only configs:
{model}_{pretrain}_{clip}-test_{data}.py), and a README table per method folder that lists exactly its configs."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / 'configs').glob('*/*/*.py') if p.parts[-3] != '_base_')
FOLDERS = sorted({p.parent for p in CONFIGS})
NAME = re.compile(r'^(?P<model>[a-z0-9-]+)_(?P<pretrain>[a-z0-9-]+)_'
                  r'(?:(?P<nxb>\d+xb\d+)-(?P<clip>\d+x\d+x\d+|u\d+)-(?P<schedule>\d+e)'
                  r'|(?P<test_clip>\d+x\d+x\d+|u\d+)-test)_(?P<data>[a-z0-9-]+)\.py$')
METHODS = {'recognition': {'videomaev2', 'umt', 'toy'}, 'ava': {'videomaev2', 'umt', 'toy'},
           'pretrain': {'videomaev2', 'umt'}, 'tad': {'actionformer', 'adatad', 'toy'}, 'qa': {'umt', 'toy'},
           'retrieval': {'umt', 'toy'}}


def test_every_config_lives_in_a_method_folder():
    assert not [p for p in (ROOT / 'configs').glob('*/*.py') if p.parent.name != '_base_']
    assert {p.name: {q.name for q in p.iterdir() if q.is_dir() and not q.name.startswith('_')}
            for p in (ROOT / 'configs').iterdir() if p.is_dir() and not p.name.startswith('_')} == METHODS


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: f'{p.parts[-3]}/{p.parts[-2]}/{p.name}')
def test_config_name_follows_the_scheme(path):
    m = NAME.match(path.name)
    assert m, f'{path.name}: not {{model}}_{{pretrain}}_{{NxB}}-{{clip}}-{{schedule}}_{{data}}.py'
    if path.parent.name == 'toy' or 'toy' in m['data']:
        # toy pretraining configs live with their method (they run its pretrainer)
        assert path.parent.name == 'toy' or path.parts[-3] == 'pretrain', path
        assert m['data'].startswith('toy-') and m['pretrain'].endswith(('scratch', 'teacher'))


@pytest.mark.parametrize('folder', FOLDERS, ids=lambda p: f'{p.parent.name}/{p.name}')
def test_method_folder_readme_lists_its_configs(folder):
    readme = (folder / 'README.md').read_text()
    listed = set(re.findall(r'^\| `([^`]+\.py)`', readme, re.M))
    assert listed == {p.name for p in folder.glob('*.py')}
    assert readme.splitlines()[0].startswith('# ')
