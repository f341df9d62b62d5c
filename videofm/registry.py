"""``videofm.registry``: MMEngine's conventional location of the scope's registries (see backbones/registry.py)."""
from backbones.registry import *  # noqa: F401,F403
from backbones.registry import ALL, SCOPE  # noqa: F401
