"""load_model_checkpoint (load_from, tools/test.py, demos) on files in other frameworks' layouts."""
import torch
from mmengine.registry import DefaultScope

import tasks  # noqa: F401
from backbones.registry import MODELS
from tasks.engine import load_model_checkpoint
from tasks.engine.runner import is_runner_checkpoint

DIM, DEPTH, CLASSES = 32, 2, 5


def _mmaction2_recognizer():
    """A real mmaction2 VideoMAE recogniser (its VisionTransformer port + TimeSformerHead), random weights."""
    from mmaction.registry import MODELS as MM_MODELS
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MM_MODELS.build(dict(
            type='Recognizer3D',
            backbone=dict(type='VisionTransformer', img_size=32, patch_size=16, embed_dims=DIM, depth=DEPTH,
                          num_heads=2, num_frames=4, tubelet_size=2, use_mean_pooling=True),
            cls_head=dict(type='TimeSformerHead', num_classes=CLASSES, in_channels=DIM, average_clips='prob')))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


def _videofm_recognizer():
    with DefaultScope.overwrite_default_scope('videofm'):
        return MODELS.build(dict(
            type='Recognizer3D',
            backbone=dict(type='VideoViT', img_size=32, patch_size=16, num_frames=4, tubelet_size=2, embed_dim=DIM,
                          depth=DEPTH, num_heads=2),
            cls_head=dict(type='VideoClsHead', num_classes=CLASSES, in_channels=DIM))).eval()


def test_mmaction2_checkpoint_with_meta_is_converted_not_loaded_as_a_runner_checkpoint(tmp_path):
    mm = _mmaction2_recognizer()
    path = tmp_path / 'videomae_mmaction2.pth'
    # what mmaction2's released checkpoints hold: meta + state_dict with the port's names
    torch.save({'meta': {'mmaction_version': '1.2.0', 'epoch': 35}, 'state_dict': mm.state_dict()}, path)
    ckpt = torch.load(path, weights_only=True)
    assert not is_runner_checkpoint(ckpt)
    ours = _videofm_recognizer()
    load_model_checkpoint(ours, str(path))
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        expected = mm.cls_head(mm.backbone(x))
        got = ours.cls_head(ours.backbone(x))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.backbone.patch_embed.proj.weight, mm.backbone.patch_embed.projection.weight)


def test_videofm_runner_checkpoint_is_still_loaded_as_is(tmp_path):
    src = _videofm_recognizer()
    path = tmp_path / 'epoch_3.pth'
    torch.save({'meta': {'epoch': 3}, 'state_dict': src.state_dict(), 'message_hub': {}}, path)
    assert is_runner_checkpoint(torch.load(path, weights_only=True))
    dst = _videofm_recognizer()
    seen = []
    load_model_checkpoint(dst, str(path), before_load=seen.append)
    assert len(seen) == 1  # Runner checkpoints go through the hooks
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)
