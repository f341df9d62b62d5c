"""End-to-end TAD (tasks/tad/end_to_end.py, frames.py): the frames dataset, the feature path against a plain
VideoViT, frozen weights without gradients / optimiser state / EMA copies, checkpoints holding only what trains,
every new config at tiny size, and (slow) tools/train.py + tools/test.py on the toy end-to-end config."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch.testing import assert_close

import tasks  # noqa: F401
from backbones import VideoViT
from backbones.registry import DATASETS, METRICS, MODELS
from tasks.engine.ema import TrainableEMA
from tasks.engine.runner import load_model_checkpoint
from tasks.tad.end_to_end import token_grid
from tasks.tad.grid import FeatureGrid
from tasks.toy_data.tad import ensure_tad, toy_tad_files

ROOT = Path(__file__).resolve().parents[2]
TOY_E2E = ROOT / 'configs/tad/toy/adatad-tiny_frozen-scratch_1xb4-208x2x1-30e_toy-tad.py'
E2E_CONFIGS = sorted((ROOT / 'configs/tad/adatad').glob('*.py')) + [TOY_E2E]
TOY = dict(num_train=2, num_val=1, min_seconds=8, max_seconds=9, fps=10, size=32, seed=0)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions: one thread (two OpenMP threads on a busy 2-core machine wait ~50 ms per op)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return ensure_tad(tmp_path_factory.mktemp('toy_tad_e2e') / 'toy', progress=False, **TOY)


def toy_cfg(root) -> Config:
    cfg = Config.fromfile(str(TOY_E2E))
    init_default_scope('videofm')
    cfg.model.frozen_checkpoint = str(Path(root) / 'backbone.pth')
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.toy = dict(root=str(root), **TOY)
    return cfg


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    return model


def batch_of(model, ds, n, training):
    items = [ds[i] for i in range(n)]
    return model.data_preprocessor(dict(inputs=[b['inputs'] for b in items],
                                        data_samples=[b['data_samples'] for b in items]), training)


def frozen_names(model):
    return {n for n, p in model.named_parameters() if not p.requires_grad}


def test_frames_dataset_decodes_the_sampled_frames(toy_root):
    import decord
    cfg = toy_cfg(toy_root)
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    sample = ds[0]
    video = toy_tad_files(toy_root)['videos'] + '/val_0000.mp4'
    frames = decord.VideoReader(video).get_batch(list(range(0, 10 ** 6, 2))[:sample['inputs'].shape[1]]).asnumpy()
    total = len(decord.VideoReader(video))
    assert sample['inputs'].shape == (3, -(-total // 2), 32, 32) and sample['inputs'].dtype == torch.uint8
    assert torch.equal(sample['inputs'], torch.from_numpy(frames).permute(3, 0, 1, 2))
    meta = sample['data_samples']
    assert meta.frame_grid == FeatureGrid(fps=10., stride=2, clip_len=2, offset=0.) and meta.num_frames == total // 2
    assert meta.video_name == 'val_0000' and len(meta.gt_segments) >= 1


def test_bad_video_is_an_annotation_error_naming_the_file(toy_root, tmp_path):
    from tasks.datasets.annotations import AnnotationError
    ann = json.loads(Path(toy_tad_files(toy_root)['ann_file']).read_text())
    videos = tmp_path / 'videos'
    videos.mkdir()
    for name in ann['database']:
        os.symlink(Path(toy_tad_files(toy_root)['videos']) / f'{name}.mp4', videos / f'{name}.mp4')
    (videos / 'train_0001.mp4').unlink()
    (videos / 'train_0001.mp4').write_bytes(b'not a video')
    kwargs = dict(type='TADVideoDataset', ann_file=toy_tad_files(toy_root)['ann_file'], video_root=str(videos),
                  subset='training', frame_interval=2)
    with pytest.raises(AnnotationError, match='train_0001'):
        DATASETS.build(kwargs)
    assert len(DATASETS.build(dict(kwargs, on_error='skip'))) == 1


def test_token_grid_by_hand():
    frames = FeatureGrid(fps=10., stride=2, clip_len=2, offset=10.)  # window starting at sampled frame 5
    g = token_grid(frames, tubelet=2, num_tokens=8)
    # token i pools sampled frames 2i, 2i+1 = frames 10 + 4i, 12 + 4i: it stands for frame 11 + 4i
    assert g.index_to_frame(0) == 11 and g.index_to_frame(3) == 23
    up = token_grid(frames, tubelet=2, num_tokens=8, upsample=2)
    # linear x2 (align_corners=False): sample j reads token (j + 0.5) / 2 - 0.5
    assert abs(up.index_to_frame(0) - (11 + 4 * -0.25)) < 1e-9 and abs(up.index_to_frame(5) - (11 + 4 * 2.25)) < 1e-9


def test_fresh_model_features_are_the_frozen_encoders(toy_root):
    cfg = toy_cfg(toy_root)
    model = build(cfg).eval()
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    frames = ds[0]['inputs']
    feats = model(**batch_of(model, ds, 1, False), mode='tensor')              # (1, 64, L)
    # independent reference: the toy backbone on each 16-frame chunk, tokens averaged over space
    vit = VideoViT(img_size=32, num_frames=16, patch_size=8, tubelet_size=2, embed_dim=64, depth=2, num_heads=4)
    vit.load_state_dict(torch.load(Path(toy_root) / 'backbone.pth', weights_only=True))
    x = (frames.float() - 127.5) / 64
    x = torch.cat([x, x.new_zeros(3, -x.shape[1] % 16, 32, 32)], 1)
    ref = []
    with torch.no_grad():
        for k in range(x.shape[1] // 16):
            tokens = vit.eval().forward_features(x[None, :, 16 * k:16 * k + 16])  # (1, 8*4*4, 64)
            ref.append(tokens.reshape(8, 16, 64).mean(1))
    assert_close(feats[0].T, torch.cat(ref), atol=1e-5, rtol=1e-5)


def test_train_step_touches_only_trainable_weights(toy_root):
    cfg = toy_cfg(toy_root)
    model = build(cfg)
    frozen = frozen_names(model)
    assert frozen and all(n.startswith('backbone.') and '.adapters.' not in f'.{n}' for n in frozen)
    assert {n.split('.')[1] for n in frozen} == {'patch_embed', 'blocks', 'fc_norm'}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    model.train()
    losses = model(**batch_of(model, ds, 2, True), mode='loss')
    optim.update_params(sum(losses.values()))
    params = dict(model.named_parameters())
    with_state = {n for n, p in params.items() if p in optim.optimizer.state}
    assert with_state == {n for n, p in params.items() if p.requires_grad}
    for n in frozen:
        assert params[n].grad is None and torch.equal(params[n], before[n]), n
    up = params['backbone.adapters.0.up_proj.weight']
    assert not torch.equal(up, before['backbone.adapters.0.up_proj.weight'])  # the adapter learned


def test_trainable_ema_shares_frozen_weights_and_averages_the_rest(toy_root):
    model = build(toy_cfg(toy_root))
    ema = TrainableEMA(model, momentum=0.25)
    src, avg = dict(model.named_parameters()), dict(ema.module.named_parameters())
    for n in frozen_names(model):
        assert avg[n] is src[n]  # the same tensor: no copy of the frozen encoder
    trainable = [n for n, p in src.items() if p.requires_grad]
    assert all(avg[n].data_ptr() != src[n].data_ptr() for n in trainable)
    assert set(ema.avg_parameters) == set(trainable)
    ema.update_parameters(model)  # step 0 copies
    old = {n: avg[n].detach().clone() for n in trainable}
    with torch.no_grad():
        for n in trainable:
            src[n].add_(1.0)
    ema.update_parameters(model)
    for n in trainable:
        assert_close(avg[n], 0.75 * old[n] + 0.25 * src[n])


def test_checkpoint_holds_only_what_trains_and_loads_back_exactly(toy_root, tmp_path):
    cfg = toy_cfg(toy_root)
    model = build(cfg, seed=0)
    with torch.no_grad():  # make every trainable weight differ from a fresh model's
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    state = model.state_dict()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n for n, _ in model.named_buffers() if n in state}
    assert set(state) == trainable | buffers and 'frozen_ref' in state and 'detector.loss_norm' in state
    assert bytes(state['frozen_ref'].tolist()) != bytes(32)
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=state), path)
    frozen_bytes = sum(p.numel() * 4 for p in model.parameters() if not p.requires_grad)
    trainable_bytes = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    assert frozen_bytes > 2 ** 18 and path.stat().st_size < trainable_bytes + 2 ** 17

    fresh = MODELS.build(copy.deepcopy(cfg.model))  # no init_weights: frozen weights come in with the load
    load_model_checkpoint(fresh, str(path), strict=True)
    full = lambda m: dict(super(type(m), m).state_dict())  # noqa: E731  (every tensor, frozen ones too)
    assert full(fresh).keys() == full(model).keys()
    for k, v in full(model).items():
        assert torch.equal(full(fresh)[k], v), k
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    data = batch_of(model, ds, 1, False)
    a = model.eval()(**data, mode='predict')[0].pred_instances
    b = fresh.eval()(**copy.deepcopy(data), mode='predict')[0].pred_instances
    assert torch.equal(a.segments, b.segments) and torch.equal(a.scores, b.scores)

    other = Path(tmp_path) / 'other_backbone.pth'
    sd = torch.load(cfg.model.frozen_checkpoint, weights_only=True)
    torch.save({k: v + 1 for k, v in sd.items()}, other)
    wrong = MODELS.build(dict(copy.deepcopy(cfg.model), frozen_checkpoint=str(other)))
    with pytest.raises(RuntimeError, match='SHA-256'):
        wrong.load_state_dict(state)


def tiny_e2e(cfg, frozen=None):
    cfg.model.backbone.update(arch=None, img_size=32, patch_size=8, tubelet_size=2, embed_dim=16, depth=2,
                              num_heads=2, mlp_ratio=2.)
    if cfg.model.backbone.get('adapter_indices') is not None:
        cfg.model.backbone.adapter_indices = [1]
    cfg.model.frozen_checkpoint = frozen
    cfg.model.detector.update(embed_dims=16, head_dims=16, num_heads=2)
    return cfg


@pytest.mark.parametrize('path', E2E_CONFIGS, ids=lambda p: p.stem)
def test_e2e_config_tiny_train_and_test_step(path, toy_root, tmp_path):
    cfg = Config.fromfile(str(path))
    init_default_scope('videofm')
    m = cfg.model
    assert m.type == 'EndToEndTAD' and m.backbone.type == 'AdapterVideoViT' and m.backbone.freeze
    assert m.detector.type == 'ActionFormer' and [h.ema_type for h in cfg.custom_hooks] == ['TrainableEMA']
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.clip_grad.max_norm == 1.0
    if path.parent.name == 'adatad':  # the reference recipe (OpenTAD AdaTAD THUMOS14)
        size = cfg.train_dataloader.dataset.pipeline[1].size
        frames = cfg.train_dataloader.dataset.pipeline[0].max_seq_len
        step = cfg.train_dataloader.dataset.frame_interval
        assert frames * step == 3072 and (frames, size) in ((768, 160), (1536, 224))
        assert m.backbone.with_cp and m.dtype == 'bf16' and m.chunk_len == 16
        assert frames // 2 * m.feat_upsample == 768
        assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 4
        assert cfg.train_dataloader.dataset.pipeline[0].trunc_thresh == 0.75
        assert m.detector.window_size is None and m.detector.test_cfg.nms.sigma == 0.7
    # tiny: the toy videos under the config's subset names
    ann = json.loads(Path(toy_tad_files(toy_root)['ann_file']).read_text())
    tr, te = cfg.train_dataloader.dataset.subset, cfg.test_dataloader.dataset.subset
    for v in ann['database'].values():
        v['subset'] = tr if v['subset'] == 'training' else te
    (tmp_path / 'gt.json').write_text(json.dumps(ann))
    cfg = tiny_e2e(cfg)

    def dataset(ds_cfg, max_len=None):
        ds_cfg = copy.deepcopy(ds_cfg)
        ds_cfg.pop('toy', None)
        ds_cfg.update(type='TADVideoDataset', ann_file=str(tmp_path / 'gt.json'),
                      video_root=toy_tad_files(toy_root)['videos'])
        for t in ds_cfg.pipeline:
            if t.type == 'DecodeTADFrames':
                t.update(size=32, num_threads=1)
            if t.type == 'RandomTruncateFeatures':
                t.max_seq_len = max_len
        return DATASETS.build(ds_cfg)

    train, test = dataset(cfg.train_dataloader.dataset, 32), dataset(cfg.test_dataloader.dataset)
    cfg.model.detector.num_classes = len(train.metainfo['classes'])
    model = build(cfg)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    losses = model(**batch_of(model, train, 2, True), mode='loss')
    assert set(losses) == {'loss_cls', 'loss_reg'} and all(torch.isfinite(v) for v in losses.values())
    optim.update_params(sum(losses.values()))
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith('backbone.blocks.0.'))
    model.eval()
    preds = model(**batch_of(model, test, 1, False), mode='predict')
    assert preds[0].video_name == 'val_0000' and preds[0].pred_instances.segments.shape[1] == 2
    ev = copy.deepcopy(cfg.test_evaluator)
    ev.ann_file = str(tmp_path / 'gt.json')
    metric = METRICS.build(ev)
    metric.dataset_meta = test.metainfo
    metric.process({}, preds)
    assert 0 <= metric.compute_metrics(metric.results)['average_mAP'] <= 1


@pytest.mark.slow
def test_toy_e2e_train_then_test_reproduces_the_checkpoint(toy_root, tmp_path):
    work = tmp_path / 'work'
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    toy = ' '.join(f'{loader}.dataset.toy.{k}={v}' for loader in loaders
                   for k, v in dict(root=toy_root, **TOY).items())
    opts = (f'model.frozen_checkpoint={toy_root}/backbone.pth val_evaluator.ann_file={toy_root}/annotations.json '
            f'test_evaluator.ann_file={toy_root}/annotations.json train_cfg.max_epochs=3 train_cfg.val_interval=1 '
            f'train_dataloader.batch_size=2 {toy}').split()
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*args):
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=1800)

    out = run('tools/train.py', str(TOY_E2E), '--work-dir', str(work), '--cfg-options', *opts)
    assert out.returncode == 0, out.stderr[-3000:]
    ckpt = torch.load(work / 'epoch_3.pth', weights_only=False)
    keys = set(ckpt['state_dict'])
    assert 'frozen_ref' in keys and not any(k.startswith('backbone.blocks.') and '.adapters.' not in k for k in keys)
    assert not any(k.startswith('backbone.patch_embed') for k in keys | set(ckpt['ema_state_dict']))
    assert any(k.startswith('backbone.adapters.') for k in keys)
    val = [json.loads(line) for line in open(next(work.glob('*/vis_data/scalars.json')))
           if 'tad/average_mAP' in line][-1]['tad/average_mAP']
    out = run('tools/test.py', str(TOY_E2E), str(work / 'epoch_3.pth'), '--work-dir', str(work / 'test'),
              '--cfg-options', *opts)
    assert out.returncode == 0, out.stderr[-3000:]
    tested = [json.loads(line) for line in open(next((work / 'test').glob('*/*.json')))]
    assert abs(tested[-1]['tad/average_mAP'] - val) < 1e-6
    out = run('tools/train.py', str(TOY_E2E), '--work-dir', str(work), '--resume', '--cfg-options',
              *[o.replace('max_epochs=3', 'max_epochs=4') for o in opts])
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work / 'epoch_4.pth').is_file()


def test_frames_are_cut_to_whole_patches_as_a_strided_patch_convolution():
    """ViT-g/14 at 160 px: OpenTAD's stride-14 convolution sees the top-left 154 x 154; so does EndToEndTAD."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='EndToEndTAD', backbone=dict(type='AdapterVideoViT', img_size=32, patch_size=8, embed_dim=16, depth=1,
                                          num_heads=2),
        detector=dict(type='ActionFormer', num_classes=2, embed_dims=16, head_dims=16, num_heads=2))).eval()
    frames = torch.randint(0, 256, (3, 16, 36, 37), dtype=torch.uint8)
    assert torch.equal(model([frames], mode='tensor'), model([frames[..., :32, :32].clone()], mode='tensor'))
