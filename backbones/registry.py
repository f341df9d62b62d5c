"""VideoFM registries: scoped children (scope ``videofm``) of mmaction2's registries.

Inside VideoFM configs (``default_scope='videofm'``) every mmaction2 and MMEngine component resolves
without a prefix, because a child registry falls back to its ancestors. From a stock mmaction2 config
VideoFM components are reached as ``type='videofm.X'`` once ``custom_imports`` imported ``backbones``.

mmengine only lazy-imports the *current* registry's ``locations`` and never its parent's, so every child
also lists mmaction2's own locations: building ``Recognizer3D`` under ``default_scope='videofm'`` then
imports ``mmaction.models`` exactly like it would under ``default_scope='mmaction'``.
"""
import importlib.util

from mmaction import registry as mma
from mmengine.registry import Registry

SCOPE = 'videofm'
# Where VideoFM registers modules; imported lazily on first use of a registry.
_OWN_LOCATIONS = ['backbones', 'tasks']


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _child(parent: Registry) -> Registry:
    """A ``videofm``-scoped child of an mmaction2 registry that also imports the parent's modules (those that
    exist: mmaction2 1.2.0's FUNCTION registry names a module ``mmaction.mmengine`` it does not ship)."""
    locations = _OWN_LOCATIONS + [loc for loc in parent._locations if loc not in _OWN_LOCATIONS and _importable(loc)]
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=locations)


RUNNERS = _child(mma.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mma.RUNNER_CONSTRUCTORS)
LOOPS = _child(mma.LOOPS)
HOOKS = _child(mma.HOOKS)
DATASETS = _child(mma.DATASETS)
DATA_SAMPLERS = _child(mma.DATA_SAMPLERS)
TRANSFORMS = _child(mma.TRANSFORMS)
MODELS = _child(mma.MODELS)
MODEL_WRAPPERS = _child(mma.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(mma.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child(mma.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mma.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(mma.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(mma.PARAM_SCHEDULERS)
METRICS = _child(mma.METRICS)
EVALUATOR = _child(mma.EVALUATOR)
TASK_UTILS = _child(mma.TASK_UTILS)
VISUALIZERS = _child(mma.VISUALIZERS)
VISBACKENDS = _child(mma.VISBACKENDS)
LOG_PROCESSORS = _child(mma.LOG_PROCESSORS)
INFERENCERS = _child(mma.INFERENCERS)
FUNCTIONS = _child(mma.FUNCTION)

ALL = dict(
    RUNNERS=RUNNERS, RUNNER_CONSTRUCTORS=RUNNER_CONSTRUCTORS, LOOPS=LOOPS, HOOKS=HOOKS, DATASETS=DATASETS,
    DATA_SAMPLERS=DATA_SAMPLERS, TRANSFORMS=TRANSFORMS, MODELS=MODELS, MODEL_WRAPPERS=MODEL_WRAPPERS,
    WEIGHT_INITIALIZERS=WEIGHT_INITIALIZERS, OPTIMIZERS=OPTIMIZERS, OPTIM_WRAPPERS=OPTIM_WRAPPERS,
    OPTIM_WRAPPER_CONSTRUCTORS=OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS=PARAM_SCHEDULERS, METRICS=METRICS,
    EVALUATOR=EVALUATOR, TASK_UTILS=TASK_UTILS, VISUALIZERS=VISUALIZERS, VISBACKENDS=VISBACKENDS,
    LOG_PROCESSORS=LOG_PROCESSORS, INFERENCERS=INFERENCERS, FUNCTIONS=FUNCTIONS)
