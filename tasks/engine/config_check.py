"""Check a config before the Runner builds it, so mistakes name the config key that holds them.

MMEngine reports an unknown ``type`` as a registry KeyError without saying where in the config it sits, and
a wrong data path only surfaces when a dataset is built, deep in the run. :func:`check_config` walks the config
once and raises :class:`ConfigError` listing every problem with its key path, e.g.::

    model.backbone.type: unknown type 'VideoVit' (did you mean 'VideoViT'?)
    train_dataloader.dataset.ann_file: data/kinetics400/train.txt does not exist (data roots are set in
    configs/_base_/datasets/; override with --cfg-options)
"""
import difflib
import inspect
import os.path as osp
from typing import Any, Iterator, List, Optional, Tuple

from backbones import registry

# config sections that are not built from a registry `type` of their own
_SKIP_KEYS = {'custom_imports', 'env_cfg', 'log_processor', 'randomness', 'auto_scale_lr'}
# dataset keys that name files which must exist before the run starts
_PATH_KEYS = ('ann_file', 'proposal_file', 'exclude_file', 'label_file')


class ConfigError(ValueError):
    """One or more config mistakes, each with its key path."""


def _walk(node: Any, path: str) -> Iterator[Tuple[str, dict]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if not path and key in _SKIP_KEYS:
                continue
            yield from _walk(value, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{path}[{i}]')


def _known_names() -> set:
    names = set()
    for reg in registry.ALL.values():
        reg.import_from_location()  # also imports the mmaction2 modules (see backbones/registry.py)
        node = reg
        while node is not None:
            names.update(node.module_dict)
            node = node.parent
    return names


# keys of a dataloader dict that MMEngine's Runner.build_dataloader takes itself; the rest go to DataLoader
_RUNNER_LOADER_KEYS = {'dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn', 'num_batch_per_epoch',
                       'disable_subprocess_warning'}
# sections whose components are built from their dict as it is (other sections are rewritten by the Runner)
_KEY_CHECKED = ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader')


def _init_keys(cls: Any) -> Optional[set]:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the MRO; None when any are accepted."""
    keys: set = set()
    for klass in (cls.__mro__ if inspect.isclass(cls) else [cls]):
        init = vars(klass).get('__init__') if inspect.isclass(cls) else klass
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return keys - {'self'}
    return None


def _registered(name: str) -> List[Any]:
    found = []
    for reg in registry.ALL.values():
        node = reg
        while node is not None:
            if name in node.module_dict and node.module_dict[name] not in found:
                found.append(node.module_dict[name])
            node = node.parent
    return found


def _unknown_keys(path: str, node: dict) -> List[str]:
    """``key: unknown ...`` problems for the keys of one config dict that its component does not accept."""
    if path in _KEY_CHECKED[1:]:
        from torch.utils.data import DataLoader
        accepted, what = (_init_keys(DataLoader) or set()) | _RUNNER_LOADER_KEYS, 'DataLoader'
    elif isinstance(node.get('type'), str) and '.' not in node['type']:
        accepted, what = set(), node['type']
        for cls in _registered(node['type']):
            keys = _init_keys(cls)
            if keys is None:
                return []
            accepted |= keys
        if not accepted:
            return []
        accepted |= {'type', '_scope_'}
    else:
        return []
    problems = []
    for key in node:
        if isinstance(key, str) and key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            problems.append(f'{path}.{key}: unknown key: {what} takes no argument {key!r}{hint}')
    return problems


def check_config(cfg, check_paths: bool = True,
                 data_sections: Tuple[str, ...] = ('train_dataloader', 'val_dataloader', 'test_dataloader')) -> None:
    """Raise :class:`ConfigError` naming the key of every unknown ``type`` and every missing annotation file.

    Args:
        cfg (mmengine.Config | dict): The merged config (after ``--cfg-options``).
        check_paths (bool): Also check that local annotation files (``ann_file``, ``proposal_file``, ...) of
            datasets exist. Datasets that generate their data (a ``toy`` entry) are not checked.
        data_sections (tuple): The dataloaders whose files are checked (``tools/test.py`` checks only
            ``test_dataloader``).
    """
    known = _known_names()
    problems: List[str] = []
    for path, node in _walk(dict(cfg), ''):
        kind = node.get('type')
        if isinstance(kind, str) and '.' not in kind and kind not in known:
            close = difflib.get_close_matches(kind, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            problems.append(f'{path}.type: unknown type {kind!r}{hint}')
        elif any(path == k or path.startswith((k + '.', k + '[')) for k in _KEY_CHECKED):
            problems.extend(_unknown_keys(path, node))
        if check_paths and 'toy' not in node and path.endswith('dataset') and path.startswith(data_sections):
            for key in _PATH_KEYS:
                value = node.get(key)
                if isinstance(value, str) and value and '://' not in value and not osp.exists(value):
                    problems.append(f'{path}.{key}: {value} does not exist (data roots are set in '
                                    'configs/_base_/datasets/; override with --cfg-options)')
    if problems:
        raise ConfigError('config problems:\n  ' + '\n  '.join(problems))
