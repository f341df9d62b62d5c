"""tools/dist_train.sh / dist_test.sh run the Python of the environment they are called from, not the first
``python3`` on PATH (issue 13, item 6): tested with a PATH whose first python3 / python are fakes. Their torchrun
rendezvous (one node, several nodes, c10d) and the Slurm scripts' srun line, with a fake interpreter / srun that
records its arguments (the real 2-process runs: tests/engine/test_ddp.py)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.slow
@pytest.mark.parametrize('script,args', [('dist_train.sh', ['nope.py', '1']),
                                         ('dist_test.sh', ['nope.py', 'nope.pth', '1'])])
def test_scripts_use_the_calling_environment(tmp_path, fake_bin, script, args):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'CONDA_PREFIX')}
    env.update(PATH=f'{fake_bin}:{os.environ["PATH"]}', VIRTUAL_ENV=sys.prefix, PORT='29533', OMP_NUM_THREADS='1')
    out = run_script(script, args, env, tmp_path)
    log = out.stdout + out.stderr
    assert not (tmp_path / 'fake_ran').exists(), log[-2000:]
    assert out.returncode != 0 and 'nope.py' in log and 'No module named' not in log, log[-2000:]


@pytest.mark.slow
def test_without_an_active_environment_a_python_with_torch_is_found(tmp_path, fake_bin):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'CONDA_PREFIX', 'VIRTUAL_ENV')}
    env.update(PATH=f'{fake_bin}:{Path(sys.executable).parent}:{os.environ["PATH"]}', PORT='29534',
               OMP_NUM_THREADS='1')
    out = run_script('dist_train.sh', ['nope.py', '1'], env, tmp_path)
    log = out.stdout + out.stderr
    assert not (tmp_path / 'fake_ran').exists() or 'nope.py' in log, log[-2000:]
    assert 'nope.py' in log and 'No module named' not in log, log[-2000:]


@pytest.fixture
def recorder(tmp_path):
    """A fake ``srun`` / Python that writes its arguments (one per line) and MASTER_PORT to a file."""
    exe = tmp_path / 'record'
    exe.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\necho "MASTER_PORT=$MASTER_PORT" >> '
                   f'{tmp_path}/args\n')
    exe.chmod(0o755)
    (tmp_path / 'bin').mkdir()
    (tmp_path / 'bin' / 'srun').symlink_to(exe)
    return exe


def _recorded(tmp_path):
    return (tmp_path / 'args').read_text().splitlines()


@pytest.mark.parametrize('env,expected', [
    (dict(), ['--nnodes=1', '--node_rank=0', '--master_addr=127.0.0.1', '--master_port=29500']),
    (dict(NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.7', PORT='29601'),
     ['--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.7', '--master_port=29601']),
    (dict(NNODES='4', RDZV_BACKEND='c10d', MASTER_ADDR='node0', PORT='29602', RDZV_ID='job7'),
     ['--nnodes=4', '--rdzv_backend=c10d', '--rdzv_endpoint=node0:29602', '--rdzv_id=job7']),
])
def test_torchrun_rendezvous_from_the_environment(tmp_path, recorder, env, expected):
    full = {**os.environ, 'PYTHON': str(recorder), **env}
    out = run_script('dist_train.sh', ['cfg.py', '8', '--amp'], full, tmp_path)
    assert out.returncode == 0, out.stderr
    args = _recorded(tmp_path)
    assert args[:2] == ['-m', 'torch.distributed.run'] and args[2:2 + len(expected)] == expected
    assert args[2 + len(expected):] == ['--nproc_per_node=8', str(ROOT / 'tools' / 'train.py'), 'cfg.py',
                                        '--launcher', 'pytorch', '--amp', 'MASTER_PORT=']
    out = run_script('dist_test.sh', ['cfg.py', 'w.pth', '2'], full, tmp_path)
    assert out.returncode == 0, out.stderr
    assert _recorded(tmp_path)[2 + len(expected):-1] == ['--nproc_per_node=2', str(ROOT / 'tools' / 'test.py'),
                                                         'cfg.py', 'w.pth', '--launcher', 'pytorch']


def test_bad_node_rank_is_one_clear_error(tmp_path, recorder):
    out = run_script('dist_train.sh', ['cfg.py', '1'], {**os.environ, 'PYTHON': str(recorder), 'NNODES': '2',
                                                       'NODE_RANK': '2'}, tmp_path)
    assert out.returncode == 2 and 'NODE_RANK=2 but NNODES=2' in out.stderr
    assert not (tmp_path / 'args').exists()


def test_slurm_scripts_run_srun_with_mmengines_slurm_launcher(tmp_path, recorder):
    env = {**os.environ, 'PATH': f'{tmp_path / "bin"}:{os.environ["PATH"]}', 'PYTHON': sys.executable,
           'GPUS': '16', 'PORT': '29777', 'SRUN_ARGS': '--time=1:00:00 --qos=high'}
    out = run_script('slurm_train.sh', ['gpu', 'vfm', 'cfg.py', 'work', '--amp'], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert _recorded(tmp_path) == [
        '-p', 'gpu', '--job-name=vfm', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8', '--cpus-per-task=5',
        '--kill-on-bad-exit=1', '--time=1:00:00', '--qos=high', sys.executable, '-u',
        str(ROOT / 'tools' / 'train.py'), 'cfg.py', '--work-dir', 'work', '--launcher', 'slurm', '--amp',
        'MASTER_PORT=29777']
    env.update(GPUS='2', SRUN_ARGS='')
    out = run_script('slurm_test.sh', ['gpu', 'vfm', 'cfg.py', 'w.pth', '--dump', 'p.pkl'], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert _recorded(tmp_path)[2:6] == ['--job-name=vfm', '--gres=gpu:2', '--ntasks=2', '--ntasks-per-node=2']
    assert _recorded(tmp_path)[-8:] == [str(ROOT / 'tools' / 'test.py'), 'cfg.py', 'w.pth', '--launcher', 'slurm',
                                        '--dump', 'p.pkl', 'MASTER_PORT=29777']


def test_slurm_dist_env_maps_the_task_variables_for_cpu_nodes(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / 'tools'))
    from _bootstrap import slurm_dist_env
    task = dict(SLURM_PROCID='5', SLURM_NTASKS='8', SLURM_LOCALID='1', SLURM_NODELIST='cn[03-06]')
    assert slurm_dist_env(task, first_host='cn03') == dict(RANK='5', WORLD_SIZE='8', LOCAL_RANK='1',
                                                           MASTER_ADDR='cn03', MASTER_PORT='29500')
    # MASTER_ADDR / MASTER_PORT already set (slurm_train.sh sets the port) win over the node list and the default
    env = slurm_dist_env({**task, 'MASTER_ADDR': '10.0.0.7', 'MASTER_PORT': '29777'})
    assert (env['MASTER_ADDR'], env['MASTER_PORT']) == ('10.0.0.7', '29777')
    with pytest.raises(RuntimeError, match='SLURM_PROCID, SLURM_NTASKS not set'):
        slurm_dist_env(dict(SLURM_NODELIST='cn03'))
    # no scontrol on PATH: the error names the node list and says to set MASTER_ADDR
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(RuntimeError, match="SLURM_NODELIST='cn\\[03-06\\]'.*set MASTER_ADDR"):
        slurm_dist_env(task)
