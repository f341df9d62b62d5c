"""Registry resolution in both directions: VideoFM configs see mmaction2/MMEngine components without a
prefix, stock mmaction2 configs see VideoFM components as ``videofm.X``."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmaction import registry as mma
from mmengine import registry as root
from mmengine.registry import DefaultScope

from backbones import VideoViT, registry

ROOT = Path(__file__).resolve().parents[1]
TINY_VIT = dict(img_size=32, num_frames=4, patch_size=16, embed_dim=32, depth=1, num_heads=2)


def scoped(name):
    return DefaultScope.overwrite_default_scope(name)


@pytest.mark.parametrize('name', sorted(registry.ALL))
def test_every_registry_is_a_videofm_child_of_mmaction(name):
    child = registry.ALL[name]
    parent = getattr(mma, 'FUNCTION' if name == 'FUNCTIONS' else name)
    assert child.scope == 'videofm'
    assert child.parent is parent
    assert parent._children['videofm'] is child
    assert child._locations[:2] == ['backbones', 'tasks']
    # the parent's modules get imported too (those that exist: mmaction2's FUNCTION names a missing module)
    importable = {loc for loc in parent._locations if registry._importable(loc)}
    assert importable <= set(child._locations)
    assert set(child._locations) <= importable | {'backbones', 'tasks'}


def test_videofm_scope_resolves_own_mmaction_and_mmengine_components():
    with scoped('videofm'):
        vit = root.MODELS.build(dict(type='VideoViT', **TINY_VIT))
        assert isinstance(vit, VideoViT)
        recognizer = root.MODELS.build(dict(
            type='Recognizer3D', backbone=dict(type='VideoViT', **TINY_VIT),
            cls_head=dict(type='VideoClsHead', num_classes=3, in_channels=32),
            data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW')))
        assert type(recognizer).__name__ == 'Recognizer3D'
        transform = root.TRANSFORMS.build(dict(type='DecordInit'))
    assert type(transform).__module__.startswith('mmaction.')  # from mmaction2
    assert registry.METRICS.get('AccMetric').__module__.startswith('mmaction.')
    assert registry.HOOKS.get('CheckpointHook').__module__.startswith('mmengine.')  # from MMEngine
    assert registry.OPTIM_WRAPPERS.get('AutocastOptimWrapper').__module__ == 'tasks.engine.optim_wrapper'
    assert registry.DATASETS.get('ToyVideoDataset').__module__ == 'tasks.toy_data.datasets'
    feats = recognizer(torch.randn(2, 1, 3, 4, 32, 32), mode='tensor')  # backbone output
    assert feats.shape == (2, 32)
    assert recognizer.cls_head(feats).shape == (2, 3)


def test_mmaction_scope_resolves_videofm_prefix():
    with scoped('mmaction'):
        vit = root.MODELS.build(dict(type='videofm.VideoViT', **TINY_VIT))
    assert isinstance(vit, VideoViT)
    assert isinstance(mma.MODELS.build(dict(type='videofm.VideoViT', **TINY_VIT)), VideoViT)
    assert mma.OPTIM_WRAPPERS.get('videofm.AutocastOptimWrapper').__name__ == 'AutocastOptimWrapper'


def test_videofm_names_are_not_in_mmaction_scope_without_prefix():
    """VideoFM never registers into mmaction2's (or timm's) global names."""
    assert 'VideoViT' not in mma.MODELS._module_dict
    assert 'VideoClsHead' not in mma.MODELS._module_dict
    with scoped('mmaction'), pytest.raises(KeyError, match='VideoViT'):
        root.MODELS.build(dict(type='VideoViT', **TINY_VIT))


STOCK_MMACTION_CONFIG = """
_base_ = ['mmaction::_base_/default_runtime.py']
custom_imports = dict(imports=['backbones', 'tasks'], allow_failed_imports=False)
model = dict(
    type='Recognizer3D',
    backbone=dict(type='videofm.VideoViT', img_size=32, num_frames=4, patch_size=16, embed_dim=32, depth=1,
                  num_heads=2),
    cls_head=dict(type='videofm.VideoClsHead', num_classes=5, in_channels=32),
    data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW'))
"""


@pytest.mark.slow
def test_stock_mmaction_config_with_custom_imports_builds_videofm_model(tmp_path):
    cfg = tmp_path / 'stock.py'
    cfg.write_text(STOCK_MMACTION_CONFIG)
    code = f"""
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
assert 'backbones' not in sys.modules
cfg = Config.fromfile({str(cfg)!r})   # custom_imports imports backbones + tasks here
assert cfg.default_scope == 'mmaction'
init_default_scope(cfg.default_scope)
from mmaction.registry import MODELS
model = MODELS.build(cfg.model)
print(type(model).__name__, type(model.backbone).__module__, type(model.cls_head).__name__)
"""
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=1800,
                         env={**__import__('os').environ, 'PYTHONPATH': str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ['Recognizer3D', 'backbones.video_vit', 'VideoClsHead']


@pytest.mark.parametrize('name', sorted(set(registry.ALL) - {'FUNCTIONS'}))
def test_videofm_registries_hold_classes_under_their_own_names(name):
    """A decorator that slipped onto a helper function registers the helper instead of the class."""
    import tasks  # noqa: F401  (registers the task modules)
    for key, obj in registry.ALL[name].module_dict.items():
        assert isinstance(obj, type) and obj.__name__ == key, (name, key, obj)
    if name == 'MODELS':
        assert {'VideoViT', 'VideoMAEv2Pretrainer', 'UMTPretrainer', 'VideoClsHead'} <= set(
            registry.ALL[name].module_dict)
