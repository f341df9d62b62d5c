"""The README's Quick start has exactly two commands; CI runs the second one verbatim."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands():
    readme = (ROOT / 'README.md').read_text()
    section = readme.split('## Quick start', 1)[1].split('\n## ', 1)[0]
    block = re.search(r'```bash\n(.*?)```', section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_has_two_commands_install_and_run():
    train, test = quick_start_commands()
    assert 'pip install' in train and 'tools/train.py configs/' in train
    assert 'pip install' in test and 'pytest' in test
    config = re.search(r'(configs/\S+\.py)', train).group(1)
    assert (ROOT / config).is_file()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / '.ci/run').read_text().splitlines()
    assert quick_start_commands()[1] in ci
