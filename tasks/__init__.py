"""VideoFM's downstream side: shared pieces grouped by role, and one package per task.

* Shared role packages (:data:`SHARED`): ``datasets`` (annotation checks, the bad input policy, video and
  rawframe list datasets, shared transforms), ``engine`` (Runner, hooks, optimiser wrappers, layer decay, config
  check), ``toy_data`` (the toy-data cache and the toy recognition set), ``visualization`` (drawing and the
  visualisation hook).
* Task packages (:data:`TASKS`): ``tasks/<task>/`` holds what one task adds (model, head, dataset where
  mmaction2 lacks one, metric, its toy data generator), e.g. ``recognition``, ``ava``.

Every sub-package registers its modules into the ``videofm`` registries (see :mod:`backbones.registry`).
Importing ``tasks`` imports every sub-package, so a new task needs no edit here; a sub-package that fails to
import fails loudly. The backbones and their pretraining live in ``backbones/``.
"""
import importlib
import pkgutil

import backbones  # noqa: F401  (applies the stack fixes and creates the registries first)

#: Shared pieces, grouped by role; imported first, since the task packages build on them.
SHARED = ('datasets', 'engine', 'toy_data', 'visualization')
#: One package per task (every other sub-package).
TASKS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and m.name not in SHARED)
for _name in SHARED + tuple(TASKS):
    importlib.import_module(f'{__name__}.{_name}')
