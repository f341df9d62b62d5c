"""ActionFormer-style detector at tiny size: label assignment and centre sampling on a hand case, each loss
against a direct computation, local-window attention against a per-query loop, a train step and a predict step."""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper

from backbones.registry import MODELS
from tasks.tad.detector import ActionFormer, diou_loss_1d, local_window_mask
from tasks.tad.grid import FeatureGrid

GRID = FeatureGrid(fps=30, stride=4, clip_len=16)


def tiny(**kw):
    cfg = dict(type='ActionFormer', in_channels=8, num_classes=3, embed_dims=16, num_heads=2, head_dims=16,
               window_size=5, drop_path=0.0)
    cfg.update(kw)
    return MODELS.build(cfg)


def test_assignment_and_centre_sampling_hand_case():
    model = tiny(arch=(1, 1, 1), regression_range=((0, 4), (4, 1e8)))
    points = model.points([16, 8])  # level 0: 0..15 stride 1; level 1: 0, 2, ..., 14 stride 2
    cls_t, reg_t = model.assign(points, torch.tensor([[2., 8.]]), torch.tensor([1]))
    pos = cls_t.sum(1) > 0
    # centre 5; level 0 region (5 - 1.5, 5 + 1.5) = (3.5, 6.5) -> points 4, 5, 6; their farthest boundary distance
    # (4, 3, 4) is inside [0, 4]. Level 1 region (2, 8) -> points 4, 6 (2 is on the border: not strictly inside);
    # farthest distances 4 and 4 are inside [4, 1e8].
    assert points[pos, 0].tolist() == [4., 5., 6., 4., 6.] and points[pos, 3].tolist() == [1., 1., 1., 2., 2.]
    assert cls_t[pos].argmax(1).tolist() == [1] * 5 and cls_t[~pos].sum() == 0
    # distances to (start, end) in strides
    assert reg_t[pos].tolist() == [[2., 4.], [3., 3.], [4., 2.], [1., 2.], [2., 1.]]


def test_assignment_shortest_wins_and_equal_lengths_give_multi_label():
    model = tiny(arch=(1, 1, 0), regression_range=((0, 100),))
    points = model.points([12])
    segs = torch.tensor([[0., 10.], [4., 6.], [4.0005, 6.0005]])
    cls_t, reg_t = model.assign(points, segs, torch.tensor([0, 1, 2]))
    # point 5 is in the centre regions of all three; the two of length 2 tie within 1e-3: labels 1 and 2
    assert cls_t[5].tolist() == [0., 1., 1.] and reg_t[5].tolist() == [1., 1.]
    # point 4 lies on the border of the short ones' centre region (4, 6): only the long one (region (3.5, 6.5))
    assert cls_t[4].tolist() == [1., 0., 0.] and reg_t[4].tolist() == [4., 6.]
    assert cls_t[3].sum() == 0 and cls_t[7].sum() == 0
    empty = model.assign(points, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    assert empty[0].shape == (12, 3) and empty[0].sum() == 0


def test_diou_loss_against_direct_computation():
    # point t, prediction [t - 1, t + 1], target [t - 1, t + 3]: IoU 2/4, centres t and t + 1, enclosing 4
    assert diou_loss_1d(torch.tensor([[1., 1.]]), torch.tensor([[1., 3.]])).item() == pytest.approx(
        1 - 0.5 + (1 / 4) ** 2)
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(50, 2, generator=g) * 5, torch.rand(50, 2, generator=g) * 5
    for (pl, pr), (tl, tr), loss in zip(pred.tolist(), target.tolist(), diou_loss_1d(pred, target).tolist()):
        ps, pe, ts, te = -pl, pr, -tl, tr  # segments around the point 0
        inter = max(0.0, min(pe, te) - max(ps, ts))
        union = (pe - ps) + (te - ts) - inter
        enclosing = max(pe, te) - min(ps, ts)
        rho = (ps + pe) / 2 - (ts + te) / 2
        assert loss == pytest.approx(1 - inter / union + (rho / enclosing) ** 2, abs=1e-5)


def test_losses_against_direct_computation():
    torch.manual_seed(0)
    model = tiny(arch=(1, 1, 2), regression_range=((0, 4), (4, 8), (8, 1e8)), init_loss_norm=10.,
                 label_smoothing=0.1)
    feats = torch.randn(2, 8, 24)
    samples = [dict(feat_grid=GRID, gt_segments=GRID.index_to_seconds(torch.tensor([[2., 9.], [12., 14.]])),
                    gt_labels=torch.tensor([0, 2])),
               dict(feat_grid=GRID, num_feats=20, gt_segments=GRID.index_to_seconds(torch.tensor([[5., 19.]])),
                    gt_labels=torch.tensor([1]))]
    model.train()
    losses = model(feats, samples, mode='loss')
    model.eval()
    logits, offsets, valid = model(feats, samples, mode='tensor')
    points = model.points([24, 12, 6])
    assert points.shape[0] == logits.shape[1] == 24 + 12 + 6
    cls_t, reg_t = zip(*[model.assign(points, GRID.seconds_to_index(s['gt_segments']), s['gt_labels'])
                         for s in samples])
    cls_t, reg_t = torch.stack(cls_t), torch.stack(reg_t)
    pos = (cls_t.sum(-1) > 0) & valid
    norm = 0.9 * 10 + 0.1 * pos.sum().item()
    assert model.loss_norm.item() == pytest.approx(norm)
    # focal loss written out: -alpha_t (1 - p_t)^gamma log(p_t) with soft targets (torchvision's formula)
    x, t = logits[valid], cls_t[valid] * 0.9 + 0.1 / 4
    p = x.sigmoid()
    ce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
    p_t = p * t + (1 - p) * (1 - t)
    focal = ((0.25 * t + 0.75 * (1 - t)) * ce * (1 - p_t) ** 2).sum()
    assert losses['loss_cls'].item() == pytest.approx(focal.item() / norm, rel=1e-4)
    assert losses['loss_reg'].item() == pytest.approx(
        diou_loss_1d(offsets[pos], reg_t[pos]).sum().item() / norm, rel=1e-4)
    # padded points (beyond num_feats=20 in the second video) carry no loss
    assert not valid[1, 20:24].any() and valid[1, :20].all()


def test_local_window_attention_equals_per_query_softmax():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 2, 9, 4).unbind(0)
    key_mask = torch.ones(1, 9, dtype=torch.bool)
    key_mask[0, 7:] = False
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=local_window_mask(9, 5, key_mask))
    for h in range(2):
        for i in range(7):
            js = [j for j in range(9) if abs(i - j) <= 2 and key_mask[0, j]]
            w = torch.softmax(torch.stack([q[0, h, i] @ k[0, h, j] / 2 for j in js]), 0)
            torch.testing.assert_close(out[0, h, i], sum(wj * v[0, h, j] for wj, j in zip(w, js)))


def test_train_step_and_predict_step():
    torch.manual_seed(0)
    model = tiny()  # (2, 2, 5): 6 levels
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    feats = [torch.randn(8, 70), torch.randn(8, 40)]  # a list of different lengths is padded to 96
    data = dict(inputs=feats, data_samples=[
        dict(video_name='v1', feat_grid=GRID, gt_segments=torch.tensor([[1.0, 3.0]]), gt_labels=torch.tensor([2])),
        dict(video_name='v2', feat_grid=GRID.to_dict(), gt_segments=torch.zeros(0, 2),
             gt_labels=torch.zeros(0, dtype=torch.long))])
    before = [p.detach().clone() for p in model.parameters()]
    logs = model.train_step(data, optim)
    assert set(logs) >= {'loss', 'loss_cls', 'loss_reg'} and all(math.isfinite(v.item()) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    model.eval()
    out = model.test_step(dict(inputs=feats, data_samples=[dict(video_name='v1', feat_grid=GRID, duration=2.5),
                                                           dict(video_name='v2', feat_grid=GRID)]))
    assert [o.video_name for o in out] == ['v1', 'v2']
    for o in out:
        inst = o.pred_instances
        assert inst.segments.shape[1] == 2 and len(inst) <= 200 and len(inst) > 0
        assert (inst.segments >= 0).all() and (inst.segments[:, 1] >= inst.segments[:, 0]).all()
        assert (inst.scores[:-1] >= inst.scores[1:]).all() and inst.labels.max() < 3
    assert (out[0].pred_instances.segments <= 2.5).all()


def test_bad_settings_and_missing_keys_fail_loudly():
    with pytest.raises(ValueError, match='regression_range has 6 levels, arch'):
        tiny(arch=(2, 2, 3))
    with pytest.raises(ValueError, match='test_cfg.nms_sigma is unknown'):
        tiny(test_cfg=dict(nms_sigma=0.5))
    model = tiny()
    with pytest.raises(ValueError, match=r'expected features \[B, 8, T\]'):
        model(torch.randn(1, 4, 32), mode='tensor')
    with pytest.raises(KeyError, match="video 'v3': training needs gt_segments"):
        model(torch.randn(1, 8, 32), [dict(video_name='v3', feat_grid=GRID)], mode='loss')
    with pytest.raises(KeyError, match="video 'v4': data sample has no feat_grid"):
        model(torch.randn(1, 8, 32), [dict(video_name='v4')], mode='predict')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_loss_and_predict_on_cuda_under_bf16_autocast():
    torch.manual_seed(0)
    model = tiny().cuda()
    feats = torch.randn(2, 8, 64, device='cuda')
    samples = [dict(video_name='v1', feat_grid=GRID, gt_segments=torch.tensor([[1.0, 3.0]]),
                    gt_labels=torch.tensor([2])),
               dict(video_name='v2', feat_grid=GRID, num_feats=40, gt_segments=torch.tensor([[0.5, 1.0]]),
                    gt_labels=torch.tensor([0]))]
    with torch.autocast('cuda', dtype=torch.bfloat16):
        losses = model(feats, samples, mode='loss')
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values()) and losses['loss_cls'].dtype == torch.float32
    model.eval()
    with torch.autocast('cuda', dtype=torch.bfloat16):
        out = model(feats, samples, mode='predict')
    assert out[0].pred_instances.segments.device.type == 'cpu' and len(out[1].pred_instances) > 0


@pytest.mark.slow
def test_learns_synthetic_events_end_to_end():
    """Assignment -> losses -> predict -> seconds -> mAP: events are channel bumps; 150 AdamW steps at tiny size
    reach average mAP (THUMOS thresholds) ~0.9 (0.6 asserted)."""
    import numpy as np

    from tasks.tad.metric import detection_map, read_ground_truth
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def make(n, length=128):
        feats, gts = [], []
        for _ in range(n):
            x = rng.normal(0, 1, (8, length)).astype(np.float32)
            segs = []
            for _ in range(rng.integers(1, 4)):
                k, size = int(rng.integers(0, 3)), int(rng.integers(4, 30))
                s = int(rng.integers(0, length - size))
                x[k, s:s + size] += 2.5
                segs.append((s - 0.5, s + size - 0.5, k))  # grid units: features s .. s + size - 1
            feats.append(torch.from_numpy(x))
            gts.append(segs)
        return feats, gts

    train_f, train_g = make(64)
    val_f, val_g = make(16)
    model = tiny(embed_dims=32, head_dims=32, window_size=9)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    model.train()
    for _ in range(150):
        idx = rng.choice(64, 4, replace=False)
        samples = [dict(feat_grid=GRID, gt_segments=GRID.index_to_seconds(torch.tensor([s[:2] for s in train_g[i]])),
                        gt_labels=torch.tensor([s[2] for s in train_g[i]])) for i in idx]
        loss = sum(model(torch.stack([train_f[i] for i in idx]), samples, mode='loss').values())
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    out = model.predict(torch.stack(val_f), [dict(video_name=f'v{i}', feat_grid=GRID) for i in range(16)])
    db = {f'v{i}': dict(subset='val', annotations=[
        dict(segment=GRID.index_to_seconds(np.array(s[:2])).tolist(), label=str(s[2])) for s in g])
        for i, g in enumerate(val_g)}
    preds = {o.video_name: dict(segments=o.pred_instances.segments.numpy(), scores=o.pred_instances.scores.numpy(),
                                labels=[str(int(lab)) for lab in o.pred_instances.labels]) for o in out}
    res = detection_map(read_ground_truth(dict(database=db), 'val'), preds, 'thumos14')
    assert res['average_mAP'] > 0.6, res['mAP']
