"""Old config names keep working for one release: configs/aliases.json maps each to its new path, and the
tools resolve a missing config through it with a one-line deprecation warning."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))
from _bootstrap import CONFIG_ALIASES, resolve_config_alias  # noqa: E402

ALIASES = {k: v for k, v in json.loads(CONFIG_ALIASES.read_text()).items() if not k.startswith('_')}


def test_every_alias_is_an_old_name_of_an_existing_config():
    assert len(ALIASES) == len(set(ALIASES.values()))
    for old, new in ALIASES.items():
        assert not (ROOT / 'configs' / old).exists(), old
        assert (ROOT / 'configs' / new).is_file(), new


def test_every_config_has_at_most_one_old_name_and_the_readme_lists_them():
    readme = (ROOT / 'README.md').read_text().split('## Changelog', 1)[1]
    for old, new in ALIASES.items():
        assert f'| `{old}` | `{new}` |' in readme


@pytest.mark.parametrize('prefix', ['', './', f'{ROOT}/'])
def test_old_path_resolves_to_the_new_one_with_one_warning_line(prefix, capsys):
    old = f'{prefix}configs/recognition/vit-tiny-p8_scratch_10e_toy-motion.py'
    new = resolve_config_alias(old)
    assert new == f'{prefix}configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'DeprecationWarning' in err and new in err and old in err


def test_existing_and_unknown_paths_are_left_alone(capsys):
    current = str(ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py')
    assert resolve_config_alias(current) == current
    missing = 'configs/recognition/no_such_config.py'
    assert resolve_config_alias(missing) == missing
    assert resolve_config_alias('elsewhere/my_config.py') == 'elsewhere/my_config.py'
    assert capsys.readouterr().err == ''


def test_tools_load_an_old_config_name_under_its_new_name(capsys):
    """train.py / test.py go through load_config: the old name runs the new config, work dir named after it."""
    from argparse import Namespace

    from _bootstrap import load_config
    args = Namespace(config=str(ROOT / 'configs/recognition/vit-tiny-p8_scratch_10e_toy-motion.py'),
                     cfg_options=None, work_dir=None, launcher='none', local_rank=0)
    cfg = load_config(args)
    assert args.config.endswith('configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py')
    assert cfg.work_dir.endswith('work_dirs/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion')
    assert 'DeprecationWarning' in capsys.readouterr().err
