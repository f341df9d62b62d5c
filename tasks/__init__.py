"""VideoFM task packages.

Each task is one sub-package (``tasks/<task>/``) that registers its modules into the ``videofm``
registries (see :mod:`backbones.registry`). Importing ``tasks`` imports every sub-package, so a new task
needs no edit here; a sub-package that fails to import fails loudly.
"""
import importlib
import pkgutil

import backbones  # noqa: F401  (applies the stack fixes and creates the registries first)

TASKS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)
for _name in TASKS:
    importlib.import_module(f'{__name__}.{_name}')
