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


# ------------------------------------------------------------------------- how complete a load must be
import pytest  # noqa: E402

from backbones.checkpoint import PartialLoadError, check_load  # noqa: E402


def _ava_detector(num_classes=CLASSES):
    with DefaultScope.overwrite_default_scope('videofm'):
        return MODELS.build(dict(
            type='AVADetector',
            backbone=dict(type='VideoViT', img_size=32, patch_size=16, num_frames=4, tubelet_size=2, embed_dim=DIM,
                          depth=DEPTH, num_heads=2, out_type='featmap'),
            num_classes=num_classes, roi_size=2)).eval()


def _runner_ckpt(model, path):
    torch.save({'meta': {'epoch': 1}, 'state_dict': model.state_dict(), 'message_hub': {}}, path)
    return str(path)


def test_check_load_names_unloaded_keys_grouped():
    model = _videofm_recognizer().state_dict()
    ckpt = {k: v for k, v in model.items() if not k.startswith('backbone.blocks.1.')}
    ckpt['cls_head.fc_cls.weight'] = torch.zeros(7, DIM)
    with pytest.raises(PartialLoadError, match=r'backbone\.blocks\.\* \(\d+\)') as e:
        check_load(model, ckpt, strict=True, source='x.pth')
    assert 'cls_head.fc_cls.weight checkpoint [7, 32] vs model [5, 32]' in str(e.value)
    assert '--allow-partial-load' in str(e.value)
    with pytest.raises(PartialLoadError, match='encoder must fit'):  # fine-tuning needs the whole encoder
        check_load(model, ckpt, strict='finetune')
    skip, notes = check_load(model, ckpt, strict=False)
    assert set(skip) == {'cls_head.fc_cls.weight', 'cls_head.fc_cls.bias'}  # the head goes as a whole
    assert any('backbone.blocks.*' in n for n in notes)


def test_runner_checkpoint_of_another_task_is_refused_for_evaluation(tmp_path):
    rec_path = _runner_ckpt(_videofm_recognizer(), tmp_path / 'rec.pth')
    ava_path = _runner_ckpt(_ava_detector(), tmp_path / 'ava.pth')
    ava = _ava_detector()
    before = {k: v.clone() for k, v in ava.state_dict().items()}
    with pytest.raises(PartialLoadError, match=r'not in the checkpoint \(2\): fc_cls\.weight, fc_cls\.bias'):
        load_model_checkpoint(ava, rec_path)  # evaluation / demo default: every weight
    assert all(v.equal(before[k]) for k, v in ava.state_dict().items())  # nothing loaded
    with pytest.raises(PartialLoadError, match=r'cls_head\.fc_cls\.\*'):
        load_model_checkpoint(_videofm_recognizer(), ava_path)
    rec = _videofm_recognizer()
    load_model_checkpoint(rec, ava_path, strict=False)  # deliberate: the backbone only
    saved = torch.load(ava_path, weights_only=True)['state_dict']
    torch.testing.assert_close(rec.backbone.blocks[0].attn.qkv.weight, saved['backbone.blocks.0.attn.qkv.weight'])


def test_finetune_drops_a_head_of_another_class_count_and_says_so(tmp_path):
    from mmengine.logging import MMLogger
    src = _videofm_recognizer()
    path = _runner_ckpt(src, tmp_path / 'k5.pth')
    with DefaultScope.overwrite_default_scope('videofm'):
        dst = MODELS.build(dict(
            type='Recognizer3D',
            backbone=dict(type='VideoViT', img_size=32, patch_size=16, num_frames=4, tubelet_size=2, embed_dim=DIM,
                          depth=DEPTH, num_heads=2),
            cls_head=dict(type='VideoClsHead', num_classes=3, in_channels=DIM)))
    with pytest.raises(PartialLoadError, match=r'cls_head\.fc_cls\.weight checkpoint \[5, 32\] vs model \[3, 32\]'):
        load_model_checkpoint(dst, path)
    logger = MMLogger.get_instance('finetune_head_test', log_file=str(tmp_path / 'log.txt'))
    load_model_checkpoint(dst, path, strict='finetune', logger=logger)
    assert 'classifier head not loaded' in (tmp_path / 'log.txt').read_text()
    torch.testing.assert_close(dst.backbone.patch_embed.proj.weight, src.backbone.patch_embed.proj.weight)


def test_safetensors_with_a_wrong_head_is_refused_for_evaluation(tmp_path):
    from safetensors.torch import save_file
    sd = {k: v.contiguous() for k, v in _videofm_recognizer().state_dict().items()}
    sd['cls_head.fc_cls.weight'], sd['cls_head.fc_cls.bias'] = torch.zeros(9, DIM), torch.zeros(9)
    path = tmp_path / 'w.safetensors'
    save_file(sd, str(path))
    with pytest.raises(PartialLoadError, match=r'wrong shape \(2\): cls_head\.fc_cls\.bias checkpoint \[9\] vs mod'):
        load_model_checkpoint(_videofm_recognizer(), str(path))
    load_model_checkpoint(_videofm_recognizer(), str(path), strict='finetune')  # fine-tuning: head dropped


def test_pretraining_runner_checkpoint_fine_tunes_a_recognizer(tmp_path):
    """A VideoFM pretraining run's checkpoint (encoder.*) is converted for load_from, not loaded as is (which
    would load nothing)."""
    with DefaultScope.overwrite_default_scope('videofm'):
        pre = MODELS.build(dict(type='VideoMAEv2Pretrainer', encoder=dict(
            img_size=32, patch_size=16, num_frames=4, tubelet_size=2, embed_dim=DIM, depth=DEPTH, num_heads=2),
            decoder_dim=16, decoder_heads=2, decoder_depth=1, encoder_mask=dict(kind='tube', ratio=0.5),
            decoder_mask=dict(kind='running_cell', ratio=0.5)))
    path = _runner_ckpt(pre, tmp_path / 'pre.pth')
    rec = _videofm_recognizer()
    load_model_checkpoint(rec, path, strict='finetune')
    torch.testing.assert_close(rec.backbone.blocks[1].mlp.fc2.weight, pre.encoder.blocks[1].mlp.fc2.weight)
    with pytest.raises(PartialLoadError):  # no head, no fc_norm: not a model to evaluate
        load_model_checkpoint(_videofm_recognizer(), path)


def test_runner_decides_strictness_by_purpose():
    from mmengine.config import Config

    from tasks.engine.runner import VideoFMRunner
    runner = VideoFMRunner.__new__(VideoFMRunner)
    runner.cfg = Config(dict())
    assert runner.load_strictness() is True  # test / val
    runner._loading_for = 'train'
    assert runner.load_strictness() == 'finetune'  # load_from for fine-tuning
    runner._resuming = True
    assert runner.load_strictness() is True  # --resume restores everything
    runner.cfg = Config(dict(allow_partial_load=True))
    assert runner.load_strictness() is False
