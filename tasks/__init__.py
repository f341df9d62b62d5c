"""VideoFM task packages. Each task is one sub-package that registers its modules into the ``videofm``
registries (see :mod:`backbones.registry`); importing ``tasks`` imports them all."""
import backbones  # noqa: F401  (applies the stack fixes and creates the registries first)

from . import common, recognition  # noqa: F401,E402
