"""VideoFM's Runner: MMEngine's Runner with crash-safe checkpoint files, loading of every known format and the
non-finite loss check on the optimiser wrapper."""
import os
import os.path as osp
import re
from typing import Callable, Union

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model  # what Runner.load_checkpoint uses

from backbones.registry import RUNNERS

from .optim_wrapper import with_non_finite_check

__all__ = ['VideoFMRunner', 'is_runner_checkpoint', 'load_model_checkpoint']


@RUNNERS.register_module()
class VideoFMRunner(Runner):
    """MMEngine's Runner with three changes.

    * Checkpoints are written atomically: to ``.<name>.tmp-<pid>`` in the same folder, flushed to disk, then
      renamed over the final name. A run killed while saving (SIGKILL, OOM killer, node loss) leaves the
      previous checkpoints intact and never a truncated ``epoch_N.pth`` for ``--resume`` to trip over.
    * ``load_from`` / ``tools/test.py`` accept official VideoMAE V2 / UMT / mmaction2 checkpoints as they are
      and ``.safetensors`` weights: they are read safely and converted by :mod:`backbones.checkpoint`.
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

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs):
        if '://' in out_dir:  # remote backends write objects atomically themselves
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
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

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006  (MMEngine's signature)
        """``load_from`` / ``tools/test.py CKPT``: see :func:`load_model_checkpoint`."""
        if '://' in str(filename):
            return super().load_checkpoint(filename, map_location, strict, revise_keys)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = load_model_checkpoint(model, filename, strict, revise_keys, logger=self.logger,
                                           before_load=lambda ckpt: self.call_hook('after_load_checkpoint',
                                                                                   checkpoint=ckpt))
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def load_model_checkpoint(model, filename: str, strict: bool = False, revise_keys=((r'^module.', ''),),
                          logger=None, before_load=None) -> dict:
    """Load weights into a VideoFM model from any file a user may have.

    A checkpoint written by an MMEngine Runner for a VideoFM model (see :func:`is_runner_checkpoint`) loads as in
    MMEngine; any other known layout (official VideoMAE V2 / UMT files, mmaction2's port, bare or ``.safetensors``
    weights) is converted by :mod:`backbones.checkpoint`, with its load report in the log. Reading is always ``weights_only`` with the
    explicit allow-list. Used by the Runner (``load_from``, ``tools/test.py``) and the demos.

    Args:
        model (nn.Module): The model (unwrapped).
        filename (str): Local checkpoint file.
        strict (bool): For Runner checkpoints: MMEngine's strict loading.
        revise_keys: For Runner checkpoints: MMEngine's key rewrites.
        logger: Where the conversion report goes.
        before_load (callable, optional): Called with a Runner checkpoint before it is loaded (hooks).

    Returns:
        dict: The checkpoint as read.
    """
    from backbones.checkpoint import load_checkpoint_file
    from backbones.pretrained import load_pretrained_checkpoint
    checkpoint = load_checkpoint_file(filename)
    if is_runner_checkpoint(checkpoint):
        if before_load is not None:
            before_load(checkpoint)
        return _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=list(revise_keys))
    target = 'pretrain' if hasattr(model, 'encoder') else 'recognizer' if hasattr(model, 'backbone') else 'backbone'
    load_pretrained_checkpoint(model, checkpoint, source=str(filename), target=target, logger=logger)
    return checkpoint


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
