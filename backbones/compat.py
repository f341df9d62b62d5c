"""Make the stock PyPI OpenMMLab stack work on a modern torch, without editing site-packages.

:func:`apply` runs on ``import backbones`` (so also through ``custom_imports``) and is idempotent.
Every workaround names its upstream issue; ``tests/test_compat.py`` has a test per workaround that
fails when the workaround stops working (or becomes unnecessary and can be deleted).

Workarounds applied here:

1. ``mmaction.models.localizers.drn`` is missing from the mmaction2 1.2.0 wheel and sdist
   (open-mmlab/mmaction2#2714), so ``import mmaction.models`` raises ModuleNotFoundError. We register
   an importable module whose ``DRN`` refuses to be built with a message naming the issue.
2. torch >= 2.6 loads with ``weights_only=True`` and refuses the numpy arrays and the
   ``HistoryBuffer`` MMEngine puts in every checkpoint (open-mmlab/mmengine#1655), which breaks
   ``--resume``, ``load_from`` and ``tools/test.py``. We allow-list exactly those types
   (:data:`MMENGINE_CHECKPOINT_GLOBALS`) and make ``HistoryBuffer`` stop pickling its statistics
   functions (which would need ``builtins.getattr`` on load). Safe loading stays on for everything else.

3. transformers 4.5x no longer re-exports ``apply_chunking_to_forward`` & co. from
   ``transformers.modeling_utils``; mmaction2's VindLU imports them from there, so ``import
   mmaction.models`` fails as soon as transformers is installed. Re-exported from
   ``transformers.pytorch_utils`` right after ``transformers.modeling_utils`` is imported.
4. mmcv-lite (no compiled ops, by design) and mmaction2's deprecated timm import make every
   ``import mmaction.models`` warn; exactly those two warnings are silenced.
5. torch's gloo backend: a process that finished its distributed work and called ``destroy_process_group`` can
   still abort with SIGABRT ("terminate called without an active exception") while the interpreter finalises
   (pytorch/pytorch#179291 discusses the finalisation side; seen twice in this release's CI runs, at the exit of a
   torchrun worker and of a spawned test worker). Not patchable from Python: :func:`leave_distributed_process`
   flushes and leaves without finalisation, and the launchers (``tools/_bootstrap.py``) and the spawned test
   workers call it once a process group has been torn down.

Pinned rather than patched (see ``setup.cfg`` and ``constraints.txt``):

* ``transformers<5``: mmaction2's VindLU BERT needs more of the 4.x API than the helpers above.
* ``numpy<2.4``: ``np.trapz`` (ANetMetric) and ``np.in1d`` (RetrievalRecall) were removed in numpy 2.4.
* ``setuptools<81``: ``pkg_resources`` (used by mmengine for ``mmaction::`` configs) was removed.
"""
import importlib.abc
import importlib.util
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ['apply', 'MMENGINE_CHECKPOINT_GLOBALS']

_DRN_MODULE = 'mmaction.models.localizers.drn'
_applied = False


def _numpy_multiarray():
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _mmengine_checkpoint_globals():
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = _numpy_multiarray()
    allowed = [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    # numpy 1.x writes 'numpy.core.multiarray.*' into pickles, numpy 2.x 'numpy._core.multiarray.*':
    # accept both spellings of the same two functions so checkpoints move between numpy versions.
    for other in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(multiarray._reconstruct, f'{other}._reconstruct'), (multiarray.scalar, f'{other}.scalar')]
    # unpickling a dtype BUILDs an instance of its DType class (numpy.dtypes.Float64DType, ...): allow the
    # classes of the numeric and bool dtypes, which is what MMEngine's logged scalars and arrays use
    allowed += sorted({type(np.dtype(code)) for code in np.typecodes['AllFloat'] + np.typecodes['AllInteger'] + '?'},
                      key=lambda cls: cls.__name__)
    return allowed


MMENGINE_CHECKPOINT_GLOBALS = None  # filled by apply(); the exact allow-list, for inspection and tests


def _install_drn_stub() -> None:
    """open-mmlab/mmaction2#2714: the PyPI wheel lacks ``mmaction/models/localizers/drn``."""
    if _DRN_MODULE in sys.modules:
        return
    spec = importlib.util.find_spec('mmaction')  # finds the package without importing it
    if spec is None or spec.origin is None:
        return
    if (Path(spec.origin).parent / 'models' / 'localizers' / 'drn' / 'drn.py').is_file():
        return  # a fixed mmaction2 (source install or a later release): nothing to do

    class DRN:  # noqa: D401 - placeholder that fails loudly
        """DRN is not shipped in the mmaction2 1.2.0 wheel (open-mmlab/mmaction2#2714)."""

        def __init__(self, *args, **kwargs):
            raise ImportError('mmaction2 1.2.0 from PyPI does not ship mmaction.models.localizers.drn '
                              '(open-mmlab/mmaction2#2714); install mmaction2 from source to use DRN.')

    package = types.ModuleType(_DRN_MODULE)
    package.__path__ = []  # a package, so that `from .drn.drn import DRN` resolves the submodule
    module = types.ModuleType(f'{_DRN_MODULE}.drn')
    module.DRN = DRN
    package.drn = module
    package.DRN = DRN
    sys.modules[_DRN_MODULE] = package
    sys.modules[f'{_DRN_MODULE}.drn'] = module


def _history_buffer_getstate(self) -> dict:
    # MMEngine's __getstate__ adds the class-level statistics functions to the instance state; they
    # unpickle through builtins.getattr, which safe loading must not allow. __setstate__ re-creates
    # them from the class registry, so dropping them loses nothing.
    return {k: v for k, v in self.__dict__.items() if k != 'statistics_methods'}


def _allow_mmengine_checkpoints() -> None:
    """open-mmlab/mmengine#1655: Runner checkpoints under torch>=2.6 ``weights_only=True``."""
    global MMENGINE_CHECKPOINT_GLOBALS
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    MMENGINE_CHECKPOINT_GLOBALS = _mmengine_checkpoint_globals()
    if hasattr(torch.serialization, 'add_safe_globals'):  # torch >= 2.4
        torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)


_BERT_HELPERS = ('apply_chunking_to_forward', 'find_pruneable_heads_and_indices', 'prune_linear_layer')


def _reexport_bert_helpers(modeling_utils) -> None:
    """transformers >= 4.5x dropped these re-exports from ``transformers.modeling_utils`` (they live in
    ``transformers.pytorch_utils``); mmaction2 1.2.0's VindLU BERT still imports them from there
    (removed from modeling_utils after transformers 4.55, see xinyu1205/recognize-anything#219),
    which makes ``import mmaction.models`` fail whenever transformers is
    installed."""
    import importlib
    pytorch_utils = importlib.import_module('transformers.pytorch_utils')
    for name in _BERT_HELPERS:
        if not hasattr(modeling_utils, name) and hasattr(pytorch_utils, name):
            setattr(modeling_utils, name, getattr(pytorch_utils, name))


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Runs ``patch(module)`` right after ``name`` is first imported, so that the fix costs nothing
    (transformers takes seconds to import) unless the module is actually used."""

    def __init__(self, name: str, patch):
        self.name, self.patch = name, patch

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, 'exec_module'):
                break
        else:
            return None
        exec_module, patch = spec.loader.exec_module, self.patch

        def exec_and_patch(module):
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


def _fix_transformers_bert_helpers() -> None:
    name = 'transformers.modeling_utils'
    if name in sys.modules:
        _reexport_bert_helpers(sys.modules[name])
    elif not any(isinstance(f, _PatchAfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport(name, _reexport_bert_helpers))


def _quiet_known_warnings() -> None:
    """Warnings every ``import mmaction.models`` prints on this stack that a user cannot act on: mmcv-lite has
    no compiled ops by design (they do not build against modern torch), and mmaction2 uses a deprecated timm
    import path. Only these exact messages are silenced."""
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``',
                            category=UserWarning)
    # mmaction2 1.2.0's VindLU imports DropPath from timm's deprecated path on every mmaction.models import
    warnings.filterwarnings('ignore', message='Importing from timm.models.layers is deprecated',
                            category=FutureWarning)


def leave_distributed_process(code: int = 0) -> None:
    """Workaround 5: flush the logging handlers, stdout and stderr, and end the process with ``code`` without
    Python's finalisation. For a process whose distributed work is finished and whose process group is destroyed
    (checkpoints, logs and dumps written: MMEngine's LoggerHook closes the visualizer in ``after_run``)."""
    import logging
    import os
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def apply() -> None:
    """Apply every workaround once. Called by ``import backbones``."""
    global _applied
    if _applied:
        return
    _install_drn_stub()
    _quiet_known_warnings()
    _fix_transformers_bert_helpers()
    _allow_mmengine_checkpoints()
    _applied = True
