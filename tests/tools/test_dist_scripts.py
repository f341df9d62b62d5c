"""tools/dist_train.sh / dist_test.sh run the Python of the environment they are called from, not the first
``python3`` on PATH (issue 13, item 6): tested with a PATH whose first python3 / python are fakes."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def fake_bin(tmp_path):
    """A folder with ``python3`` and ``python`` that only leave a marker file."""
    folder = tmp_path / 'fakebin'
    folder.mkdir()
    for name in ('python3', 'python'):
        exe = folder / name
        exe.write_text(f'#!/bin/sh\ntouch {tmp_path}/fake_ran\necho "fake {name}: No module named torch" >&2\n'
                       'exit 1\n')
        exe.chmod(0o755)
    return folder


def run_script(script, args, env, cwd):
    return subprocess.run(['bash', str(ROOT / 'tools' / script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.parametrize('script,args', [('dist_train.sh', ['nope.py', '1']),
                                         ('dist_test.sh', ['nope.py', 'nope.pth', '1'])])
def test_scripts_use_the_calling_environment(tmp_path, fake_bin, script, args):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'CONDA_PREFIX')}
    env.update(PATH=f'{fake_bin}:{os.environ["PATH"]}', VIRTUAL_ENV=sys.prefix, PORT='29533', OMP_NUM_THREADS='1')
    out = run_script(script, args, env, tmp_path)
    log = out.stdout + out.stderr
    assert not (tmp_path / 'fake_ran').exists(), log[-2000:]
    assert out.returncode != 0 and 'nope.py' in log and 'No module named' not in log, log[-2000:]


def test_without_an_active_environment_a_python_with_torch_is_found(tmp_path, fake_bin):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'CONDA_PREFIX', 'VIRTUAL_ENV')}
    env.update(PATH=f'{fake_bin}:{Path(sys.executable).parent}:{os.environ["PATH"]}', PORT='29534',
               OMP_NUM_THREADS='1')
    out = run_script('dist_train.sh', ['nope.py', '1'], env, tmp_path)
    log = out.stdout + out.stderr
    assert not (tmp_path / 'fake_ran').exists() or 'nope.py' in log, log[-2000:]
    assert 'nope.py' in log and 'No module named' not in log, log[-2000:]
