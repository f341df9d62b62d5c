"""VideoFM's Runner: MMEngine's Runner with crash-safe checkpoint files, loading of every known format and the
non-finite loss check on the optimiser wrapper."""
import logging
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Optional, Tuple, Union

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model  # what Runner.load_checkpoint uses

from backbones.registry import RUNNERS

from .optim_wrapper import with_non_finite_check

__all__ = ['VideoFMRunner', 'is_runner_checkpoint', 'load_model_checkpoint', 'pid_alive',
           'remove_stale_checkpoint_tmp']


@RUNNERS.register_module()
class VideoFMRunner(Runner):
    """MMEngine's Runner with three changes.

    * Checkpoints are written atomically: to ``.<name>.tmp-<pid>`` in the same folder, flushed to disk, then
      renamed over the final name. A run killed while saving (SIGKILL, OOM killer, node loss) leaves the
      previous checkpoints intact and never a truncated ``epoch_N.pth`` for ``--resume`` to trip over. The
      ``.tmp-<pid>`` files such a kill leaves are removed when a later run (or ``--resume``) starts training
      (:func:`remove_stale_checkpoint_tmp`; only those whose process is gone).
    * ``load_from`` / ``tools/test.py`` accept official VideoMAE V2 / UMT / mmaction2 checkpoints as they are
      and ``.safetensors`` weights: they are read safely and converted by :mod:`backbones.checkpoint`. Every
      load is checked (:meth:`load_strictness`): evaluation and ``--resume`` need every weight, ``load_from`` in
      training the encoder (a classifier head of another class count is dropped, and the log says so);
      ``allow_partial_load=True`` in the config allows a deliberate partial load.
    * The optimiser wrapper checks the training loss before backward when the config has
      ``non_finite_loss = dict(policy='raise' | 'skip', max_consecutive_skips=20)`` (set in
      ``configs/_base_/default_runtime.py``; ``None`` turns the check off): a NaN / Inf loss stops the run naming
      the last good checkpoint, or skips and counts the step
      (:class:`~tasks.engine.optim_wrapper.NonFiniteLossOptimWrapper`).
    """

    def build_optim_wrapper(self, optim_wrapper):
        """MMEngine's build, with the wrapper class composed with the non-finite loss check (see the class
        docstring) when ``optim_wrapper`` is one wrapper's config."""
        check = self.cfg.get('non_finite_loss') if self.cfg is not None else None
        if check is not None and isinstance(optim_wrapper, dict) and 'optimizer' in optim_wrapper:
            if not isinstance(check, dict) or set(check) - {'policy', 'max_consecutive_skips'}:
                raise ValueError("non_finite_loss must be None or dict(policy='raise' | 'skip', "
                                 f'max_consecutive_skips=N), got {check!r}')
            optim_wrapper = with_non_finite_check(optim_wrapper, work_dir=self.work_dir, **check)
        return super().build_optim_wrapper(optim_wrapper)

    def train(self):
        remove_stale_checkpoint_tmp(self.work_dir, self.logger)  # left by a run killed while saving
        self._loading_for = 'train'  # load_from during train(): fine-tuning (see load_strictness)
        try:
            return super().train()
        finally:
            self._loading_for = None

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs):
        """A sharded model (:class:`~tasks.engine.fsdp.VideoFMFSDP`) is saved by every rank as a sharded checkpoint
        directory (:func:`~tasks.engine.fsdp.save_sharded_checkpoint`); anything else by the main process, as one
        file written atomically."""
        from .fsdp import is_fsdp, save_sharded_checkpoint
        if is_fsdp(self.model):
            return save_sharded_checkpoint(self, out_dir, filename, *args, **kwargs)
        return self._save_checkpoint_file(out_dir, filename, *args, **kwargs)

    @master_only
    def _save_checkpoint_file(self, out_dir: str, filename: str, *args, **kwargs):
        if '://' in out_dir:  # remote backends write objects atomically themselves
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        if out_dir != self.work_dir and out_dir not in getattr(self, '_tmp_checked', ()):
            self._tmp_checked = {*getattr(self, '_tmp_checked', ()), out_dir}
            remove_stale_checkpoint_tmp(out_dir, self.logger)
        tmp_name = f'.{filename}.tmp-{os.getpid()}'
        tmp_path, final_path = osp.join(out_dir, tmp_name), osp.join(out_dir, filename)
        try:
            super().save_checkpoint(out_dir, tmp_name, *args, **kwargs)
            with open(tmp_path, 'rb+') as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, final_path)
        finally:
            if osp.exists(tmp_path):
                os.remove(tmp_path)

    def resume(self, filename: str, *args, **kwargs):
        from .fsdp import is_fsdp, is_sharded_checkpoint, resume_sharded
        if is_sharded_checkpoint(filename):  # a directory written by a sharded (FSDP) run
            kwargs.pop('map_location', None)
            return resume_sharded(self, filename, *args[:2], **kwargs)
        if is_fsdp(self.model):
            raise ValueError(f'{filename}: a sharded (FSDP) run resumes from a sharded checkpoint directory; to start '
                             'from a single-file checkpoint set load_from (fine-tuning) instead of --resume')
        self._resuming = True  # resume must restore every weight, whatever the loop
        try:
            return super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False

    def wrap_model(self, model_wrapper_cfg, model):
        """MMEngine's, and :class:`~tasks.engine.fsdp.VideoFMFSDP` (sharded training) when ``model_wrapper_cfg``
        names it (MMEngine looks wrapper types up in its root registry only, which does not see VideoFM's)."""
        from .fsdp import build_fsdp, selects_fsdp
        if selects_fsdp(model_wrapper_cfg) and not is_model_wrapper(model):
            return build_fsdp(model_wrapper_cfg, model, self.distributed, self.logger)
        return super().wrap_model(model_wrapper_cfg, model)

    def _init_model_weights(self) -> None:
        from .fsdp import is_fsdp
        if is_fsdp(self.model):  # VideoFMFSDP initialised (and synchronised) the weights before sharding them
            return
        return super()._init_model_weights()

    def load_strictness(self) -> Union[bool, str]:
        """How complete a load must be (see :func:`backbones.checkpoint.check_load`): ``False`` when the config
        has ``allow_partial_load=True`` (``tools/test.py --allow-partial-load``); ``True`` when resuming and for
        evaluation (``tools/test.py``, ``runner.val()``); ``'finetune'`` for ``load_from`` in training (the
        encoder must fit, a classifier head of another class count is dropped and said so)."""
        if self.cfg is not None and self.cfg.get('allow_partial_load', False):
            return False
        if getattr(self, '_resuming', False):
            return True
        return 'finetune' if getattr(self, '_loading_for', None) == 'train' else True

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: Optional[Union[bool, str]] = None,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006  (MMEngine's signature)
        """``load_from`` / ``tools/test.py CKPT`` / ``--resume``: see :func:`load_model_checkpoint`; ``strict``
        defaults to :meth:`load_strictness`."""
        if strict is None:
            strict = self.load_strictness()
        from .fsdp import is_sharded_checkpoint, load_sharded_model
        if is_sharded_checkpoint(filename):  # a sharded (FSDP) run's directory, into any model (DCP reshards)
            checkpoint = load_sharded_model(self.model, filename, strict=strict is True)
            self._has_loaded = True
            self.logger.info(f'Load sharded checkpoint from {filename}')
            return checkpoint
        if '://' in str(filename):
            return super().load_checkpoint(filename, map_location, strict is True, revise_keys)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = load_model_checkpoint(model, filename, strict, revise_keys, logger=self.logger,
                                           before_load=lambda ckpt: self.call_hook('after_load_checkpoint',
                                                                                   checkpoint=ckpt))
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def _encoder_prefix(model) -> Tuple[str, str]:
    """(conversion target, where the encoder's keys are) of a VideoFM model."""
    from backbones.checkpoint import TARGETS
    target = 'pretrain' if hasattr(model, 'encoder') else 'recognizer' if hasattr(model, 'backbone') else 'backbone'
    return target, TARGETS[target]


def load_model_checkpoint(model, filename: str, strict: Union[bool, str] = True,
                          revise_keys=((r'^module.', ''),), logger=None, before_load=None) -> dict:
    """Load weights into a VideoFM model from any file a user may have, as completely as ``strict`` demands.

    A checkpoint written by an MMEngine Runner for a VideoFM model (see :func:`is_runner_checkpoint`) whose keys
    are the model's loads as in MMEngine; any other known layout (official VideoMAE V2 / UMT files, mmaction2's
    port, bare or ``.safetensors`` weights, a VideoFM pretraining checkpoint into a recognizer) is converted by
    :mod:`backbones.checkpoint`, with its load report in the log; a model with its own ``load_checkpoint`` (UMT
    stage 2, QA: official multimodal layouts) converts and checks such files itself. Reading is always ``weights_only`` with the
    explicit allow-list. Used by the Runner (``load_from``, ``tools/test.py``, ``--resume``) and the demos.

    Args:
        model (nn.Module): The model (unwrapped).
        filename (str): Local checkpoint file.
        strict (bool | str): ``True`` (evaluation, demos, resume): every model weight must load with its
            shape, else :class:`~backbones.checkpoint.PartialLoadError` naming the keys (grouped) and nothing is
            loaded. ``'finetune'`` (``load_from`` in training): the encoder must fit; a classifier head of
            another class count is dropped, which the log says. ``False``: a deliberate partial load, every
            unloaded key in the log. The rules live in :func:`backbones.checkpoint.check_load`.
        revise_keys: For Runner checkpoints: MMEngine's key rewrites.
        logger: Where the conversion report and the notes go.
        before_load (callable, optional): Called with a Runner checkpoint before it is loaded (hooks).

    Returns:
        dict: The checkpoint as read.
    """
    from mmengine.logging import print_log

    from backbones.checkpoint import check_load, load_checkpoint_file
    from backbones.pretrained import load_pretrained_checkpoint
    checkpoint = load_checkpoint_file(filename)
    target, enc_prefix = _encoder_prefix(model)
    if is_runner_checkpoint(checkpoint):
        state_dict = checkpoint['state_dict']
        for pattern, repl in revise_keys:
            state_dict = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state_dict.items())
        model_state = model.state_dict()
        if any(k in model_state for k in state_dict) or not _has_video_encoder(state_dict):
            skip, notes = check_load(model_state, state_dict, strict=strict, encoder_prefix=enc_prefix,
                                     source=str(filename), model_name=type(model).__name__)
            level = logging.INFO if strict == 'finetune' else logging.WARNING
            for note in notes:
                print_log(f'{filename}: {note}', logger=logger if logger is not None else 'current', level=level)
            if before_load is not None:
                before_load(checkpoint)
            loadable = OrderedDict((k, v) for k, v in state_dict.items() if k not in skip)
            _load_checkpoint_to_model(model, {'state_dict': loadable}, False, revise_keys=[])
            return checkpoint
        # a Runner checkpoint of another layout (a VideoFM pretraining run into a recognizer): convert it
    if callable(getattr(model, 'load_checkpoint', None)):
        # models with their own official layouts (UMT stage 2, QA) convert and check their files themselves
        model.load_checkpoint(str(filename), strict=strict is not False)
        return checkpoint
    load_pretrained_checkpoint(model, checkpoint, source=str(filename), target=target, logger=logger,
                               strict_encoder=strict is not False, require_all=strict is True)
    return checkpoint


def _has_video_encoder(state_dict) -> bool:
    from backbones.checkpoint import detect_format
    try:
        detect_format(state_dict)
        return True
    except ValueError:
        return False


def is_runner_checkpoint(checkpoint) -> bool:
    """Whether a loaded checkpoint is an MMEngine Runner checkpoint of a VideoFM model.

    The keys decide, not the top-level entries: mmaction2's released checkpoints also hold ``state_dict`` and
    ``meta``, but with its port's parameter names (``patch_embed.projection``, ``mlp.layers``), which only the
    conversion in :mod:`backbones.checkpoint` maps onto VideoFM's.
    """
    from backbones.checkpoint import detect_format
    if not (isinstance(checkpoint, dict) and 'meta' in checkpoint and isinstance(checkpoint.get('state_dict'), dict)):
        return False
    state_dict = {re.sub(r'^module\.', '', k): v for k, v in checkpoint['state_dict'].items()}
    try:
        return detect_format(state_dict) != 'mmaction2'
    except ValueError:  # no video encoder in it (another kind of model): MMEngine's own rules apply
        return True


_TMP_NAME = re.compile(r'^\..+\.tmp-(\d+)$')


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (this process included), for telling a killed run's
    temporary files from a live one's. An id that cannot be a process id (read from a file name) is not alive."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def remove_stale_checkpoint_tmp(folder: str, logger=None) -> list:
    """Delete the ``.<name>.tmp-<pid>`` files of checkpoint saves whose process is gone (a run killed while
    saving); files of a live process (a save in progress) are kept.

    Only the main process saves checkpoints, so a PID is checked on this machine: a work dir that runs on
    several machines at the same time is not supported anyway.

    Args:
        folder (str): The work dir or checkpoint folder.
        logger: Where the one-line notice goes.

    Returns:
        list[str]: The removed files.
    """
    from mmengine.dist import is_main_process
    if not is_main_process() or not osp.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        match = _TMP_NAME.match(name)
        if match and not pid_alive(int(match.group(1))):
            path = osp.join(folder, name)
            try:
                size = osp.getsize(path)
                if osp.isdir(path):  # a sharded checkpoint directory (tasks/engine/fsdp.py)
                    import shutil
                    size = sum(osp.getsize(osp.join(path, f)) for f in os.listdir(path))
                    shutil.rmtree(path)
                else:
                    os.remove(path)
            except OSError:
                continue
            removed.append(path)
            if logger is not None:
                logger.warning(f'removed {path} ({size / 2**20:.1f} MB): a partial checkpoint left by a run '
                               f'(pid {match.group(1)}) killed while saving')
    return removed
