"""Shared start-up for the command-line tools: make the checkout importable without installing it, apply
VideoFM's fixes for the OpenMMLab stack before anything else imports it, and the config handling that
train.py and test.py have in common."""
import argparse
import os
import os.path as osp
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import backbones  # noqa: E402,F401  (backbones.compat.apply() runs on import)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments every Runner-based tool takes after its own."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.batch_size=8 model.backbone.depth=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (tools/dist_*.sh set pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


CONFIG_ALIASES = ROOT / 'configs' / 'aliases.json'  # old config path -> new one, relative to configs/


def resolve_config_alias(path: str) -> str:
    """``path`` itself when it exists; else, when it is a config renamed in this release
    (``configs/aliases.json``), the new path, with a one-line deprecation warning on stderr. Old names are kept
    for one release."""
    posix = str(path).replace(os.sep, '/')
    if osp.exists(path) or 'configs/' not in posix:
        return path
    import json
    head, _, rel = posix.rpartition('configs/')
    new = json.loads(CONFIG_ALIASES.read_text()).get(rel)
    if new is None:
        return path
    new_path = head + 'configs/' + new
    print(f'DeprecationWarning: config {path} was renamed to {new_path}; the old name will stop working in '
          'the next release', file=sys.stderr)
    return new_path


def load_config(args, data_sections=('train_dataloader', 'val_dataloader', 'test_dataloader')):
    """Config file + ``--cfg-options`` + the settings shared by every tool (work dir, launcher, backend), checked
    by :func:`tasks.engine.config_check.check_config` (unknown types and missing data files name their key)."""
    import torch
    from mmengine.config import Config
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    args.config = resolve_config_alias(args.config)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.launcher = args.launcher
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if isinstance(loader, dict) and loader.get('persistent_workers') and not loader.get('num_workers'):
            loader['persistent_workers'] = False  # torch raises a ValueError that names no key
            print(f'{name}.persistent_workers: set to False because {name}.num_workers is '
                  f'{loader.get("num_workers", 0)} (persistent workers need num_workers > 0)', file=sys.stderr)
    if not torch.cuda.is_available() and cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend') == 'nccl':
        cfg.env_cfg.dist_cfg.backend = 'gloo'  # NCCL needs GPUs
    if cfg.get('default_scope') == 'videofm':
        import tasks  # noqa: F401  (registers every VideoFM module before the check)
        from tasks.engine.config_check import check_config
        check_config(cfg, data_sections=data_sections)
    return cfg


def slurm_dist_env(environ, first_host=None) -> dict:
    """The ``torch.distributed`` environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
    ``MASTER_PORT``) of a Slurm task, as MMEngine's slurm launcher sets it on GPU nodes: rank ``SLURM_PROCID`` of
    ``SLURM_NTASKS``, local rank ``SLURM_LOCALID``, master the first host of ``SLURM_NODELIST`` (``scontrol show
    hostnames``; ``first_host`` overrides) unless ``MASTER_ADDR`` is set, port ``MASTER_PORT`` or 29500.

    Raises:
        RuntimeError: Not inside a Slurm job step (a variable missing), named.
    """
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if k not in environ]
    if missing:
        raise RuntimeError(f'--launcher slurm outside a Slurm job step: {", ".join(missing)} not set; start the '
                           'job with tools/slurm_train.sh / slurm_test.sh (srun), or use tools/dist_train.sh')
    env = dict(RANK=environ['SLURM_PROCID'], WORLD_SIZE=environ['SLURM_NTASKS'],
               LOCAL_RANK=environ.get('SLURM_LOCALID', '0'), MASTER_PORT=environ.get('MASTER_PORT', '29500'))
    if 'MASTER_ADDR' in environ:
        env['MASTER_ADDR'] = environ['MASTER_ADDR']
    else:
        import subprocess
        nodes = environ['SLURM_NODELIST']
        if first_host is None:
            try:
                first_host = subprocess.run(['scontrol', 'show', 'hostnames', nodes], capture_output=True,
                                            text=True, check=True, timeout=60).stdout.split()[0]
            except (OSError, subprocess.SubprocessError, IndexError) as err:
                raise RuntimeError(f'--launcher slurm: cannot find the master host of SLURM_NODELIST={nodes!r} '
                                   f'with scontrol ({err}); set MASTER_ADDR') from err
        env['MASTER_ADDR'] = first_host
    return env


def _init_cpu_distributed(cfg) -> None:
    """MMEngine's ``pytorch`` and ``slurm`` launchers assume GPUs: they call ``torch.cuda.set_device`` and give
    DDP ``device_ids=[local_rank]``. On a machine without CUDA we start the (gloo) process group here (for Slurm
    from the task's variables, :func:`slurm_dist_env`), which the Runner then keeps, and let DDP wrap the CPU model
    without device ids."""
    import torch
    import torch.distributed as dist
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher == 'slurm':
        os.environ.update(slurm_dist_env(os.environ))
    if not dist.is_initialized():
        dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
        dist_cfg['backend'] = 'gloo' if dist_cfg.get('backend', 'nccl') == 'nccl' else dist_cfg['backend']
        dist.init_process_group(**dist_cfg)
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def run(cfg, method: str):
    """Build the Runner and call ``runner.<method>()``; tear the process group down afterwards (a live gloo
    group at interpreter exit can abort the process), after a barrier on success, so that no rank starts its teardown
    (and no node's torchrun agent closes the rendezvous store) while another is still in a collective or saving."""
    import torch.distributed as dist
    global _TORE_DOWN_GROUP
    try:
        result = getattr(build_runner(cfg), method)()
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
        return result
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
            _TORE_DOWN_GROUP = True


#: Set by :func:`run` when it destroyed a process group; :func:`run_main` then leaves without interpreter finalization.
_TORE_DOWN_GROUP = False


def build_runner(cfg):
    """MMEngine's Runner, or the one the config names in ``runner_type``."""
    from mmengine.runner import Runner

    from backbones.registry import RUNNERS
    _init_cpu_distributed(cfg)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def user_errors() -> tuple:
    """The project's own error types whose message says everything: the launchers print it without a traceback."""
    from backbones import checkpoint
    from tasks.datasets import AnnotationError, DamagedVideoError, UnreadableVideoError
    from tasks.engine.config_check import ConfigError
    found = [AnnotationError, UnreadableVideoError, DamagedVideoError, ConfigError, FileNotFoundError]
    for name in ('UnsafeCheckpointError', 'DamagedCheckpointError', 'PartialLoadError'):
        if hasattr(checkpoint, name):
            found.append(getattr(checkpoint, name))
    return tuple(found)


def one_line(err: BaseException) -> str:
    """The message of ``err``; for an error re-raised from a DataLoader worker, its last line (the original
    error) without the worker's traceback."""
    text = str(err)
    if 'Original Traceback' in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(': ', 1)[1] if ': ' in last and last.split(': ', 1)[0].count('.') else last
    return text


def run_main(main, argv=None):
    """Call ``main(argv)``; a user error (bad annotation, unreadable video, config or checkpoint problem) is printed
    as ``error: <message>`` on stderr, without a traceback, and the process exits with status 2. A distributed run
    that finished leaves through :func:`backbones.compat.leave_distributed_process` (workaround 5 there)."""
    global _TORE_DOWN_GROUP
    _TORE_DOWN_GROUP = False
    try:
        result = main(argv)
    except Exception as err:  # noqa: BLE001 - filtered on the next line, everything else is re-raised
        if not isinstance(err, user_errors()):
            raise
        print(f'error: {one_line(err)}', file=sys.stderr)
        sys.exit(2)
    if _TORE_DOWN_GROUP:  # a distributed run that finished: no finalization (gloo can abort there)
        from backbones.compat import leave_distributed_process
        leave_distributed_process(0)
    return result
