"""Every AVA config: a train and a test step at tiny size; ViT-g built on the meta device."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

import backbones  # noqa: F401
import mmaction.models  # noqa: F401
import tasks  # noqa: F401
from backbones.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmaction.structures import ActionDataSample

ROOT = Path(__file__).resolve().parents[2]
@pytest.fixture(autouse=True)
def videofm_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('videofm'):
        yield


CONFIGS = sorted(p.relative_to(ROOT / 'configs/ava').as_posix() for p in (ROOT / 'configs/ava').glob('*/*.py'))


def _batch(clip_len, size=56, k=81):
    inputs, samples = [], []
    for b in range(2):
        inputs.append(torch.randint(0, 256, (3, clip_len, size, size + 8 * b), dtype=torch.uint8))
        labels = torch.zeros(2, k)
        labels[0, [12, 17]] = labels[1, 14] = 1
        ds = ActionDataSample(metainfo=dict(img_shape=(size, size + 8 * b), video_id='v', timestamp=902 + b,
                                            crop_quadruple=[0., 0., 1., 1.], flip=bool(b)))
        ds.gt_instances = InstanceData(bboxes=torch.tensor([[4., 4., 30., 50.], [30., 8., 50., 40.]]), labels=labels)
        ds.proposals = InstanceData(bboxes=torch.tensor([[4., 4., 30., 51.], [0., 0., 20., 20.], [30., 8., 50., 40.]]))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', CONFIGS)
def test_pipelines_are_lists_of_transforms(name):
    """`*{{_base_.x}}[1:]` once spliced the characters of MMEngine's placeholder string into the UMT pipelines."""
    cfg = Config.fromfile(ROOT / 'configs/ava' / name)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        assert all(isinstance(t, dict) and 'type' in t for t in pipeline), (loader, pipeline)
        assert pipeline[0]['type'] == 'SampleAVAFrames' and pipeline[-1]['type'] == 'PackActionInputs'


@pytest.mark.parametrize('name', CONFIGS)
def test_config_train_and_test_step_at_tiny_size(name):
    cfg = Config.fromfile(ROOT / 'configs/ava' / name)
    cfg.model.backbone.update(embed_dim=32, depth=2, num_heads=2, init_cfg=None)
    cfg.model.pop('in_channels', None)
    model = MODELS.build(cfg.model)
    assert model.backbone.with_cp == cfg.model.backbone.get('with_cp', False)
    ow_cfg = cfg.optim_wrapper.copy()
    constructor = ow_cfg.pop('constructor', 'DefaultOptimWrapperConstructor')
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=constructor, optim_wrapper_cfg=ow_cfg,
                                                  paramwise_cfg=ow_cfg.pop('paramwise_cfg', None)))(model)
    clip_len = cfg.train_dataloader.dataset.pipeline[0]['clip_len']
    model.train()
    before = model.fc_cls.weight.detach().clone()
    losses = model.train_step(_batch(clip_len), optim)
    assert set(losses) == {'loss', 'loss_action'} and torch.isfinite(losses['loss'])
    assert not torch.equal(before, model.fc_cls.weight)
    model.eval()
    out = model.test_step(_batch(clip_len))
    assert len(out) == 2
    for ds in out:
        pred = ds.pred_instances
        assert pred.bboxes.shape == (3, 4) and pred.scores.shape == (3, 81)
        assert pred.bboxes.min() >= 0 and pred.bboxes.max() <= 1 and (pred.scores[:, 0] == 0).all()
    # sample 1 was flipped: its first proposal maps back mirrored, in normalised original coordinates
    torch.testing.assert_close(out[1].pred_instances.bboxes[0], torch.tensor([34 / 64, 4 / 56, 60 / 64, 51 / 56]))


def test_vmaev2_g_builds_on_meta_device_with_1b_backbone():
    cfg = Config.fromfile(ROOT / 'configs/ava/videomaev2/vit-g-p14_vmaev2-pre-k710-ft_8xb4-16x4x1-20e_ava22.py')
    assert cfg.model.backbone.arch == 'giant' and cfg.model.backbone.with_cp
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    n = sum(p.numel() for p in model.backbone.parameters())
    assert 1.00e9 < n < 1.02e9, n
    assert next(model.parameters()).device.type == 'meta'
    assert model.fc_cls.in_features == 1408
