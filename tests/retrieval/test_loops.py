"""The retrieval loops with a tiny fake stage-2 model: batched re-ranking equals the reference's per-query loop,
the loop runs through MMEngine's Runner and evaluator, and with 2 gloo processes every query is scored once and
the numbers equal the single-process ones."""
import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.dataset import DefaultSampler, pseudo_collate
from torch.utils.data import DataLoader

from backbones.compat import leave_distributed_process
from tasks.retrieval import (METRIC_KEYS, RetrievalDataset, evaluate_retrieval, rerank_per_query, rerank_topk,
                             retrieval_metrics)
from tasks.retrieval.loops import embed_texts, shard
from tests.retrieval.fake_model import FakeStage2

PIPELINE = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=2, num_clips=1, test_mode=True),
            dict(type='DecordDecode'), dict(type='Resize', scale=(8, 8), keep_ratio=False),
            dict(type='FormatShape', input_format='NCTHW'), dict(type='PackRetrievalInputs')]
K = 3


def _ann(toy_root, out):
    """5 videos, multi-caption (2, 1, 3, 1, 2 texts) -> 9 texts."""
    counts = (2, 1, 3, 1, 2)
    rows = [dict(video=f'videos/val/{i:05d}.mp4', caption=[f'clip {i} text {k} {"x " * k}' for k in range(n)])
            for i, n in enumerate(counts)]
    out.write_text(json.dumps(rows))
    return str(out)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    from tasks.toy_data.retrieval import ensure_retrieval
    tmp = tmp_path_factory.mktemp('rt')
    root = ensure_retrieval(tmp / 'toy', progress=False, num_train=1, num_val=5)
    return str(root), _ann(root, tmp / 'ann.json')


def _dataset(root, ann):
    import tasks  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('videofm')
    return RetrievalDataset(ann, PIPELINE, caption_mode='multi', data_prefix=dict(video=root), test_mode=True)


def test_shard_covers_everything_once():
    for n in (0, 1, 5, 9):
        for world in (1, 2, 3):
            got = [i for r in range(world) for i in range(*shard(n, r, world))]
            assert got == list(range(n))


def test_batched_rerank_equals_per_query_loop():
    torch.manual_seed(0)
    model = FakeStage2()
    nt, nv = 7, 5
    vt, tt = torch.randn(nv, 4, 8), torch.randn(nt, 3, 8)
    mask = torch.ones(nt, 3, dtype=torch.long)
    sim = torch.randn(nt, nv)
    t2v, v2t = rerank_topk(model, sim, vt, tt, mask, k=K, batch_size=4)
    assert model.pairs_scored == nt * K + nv * K
    ref_t2v, ref_v2t = rerank_per_query(model, sim, vt, tt, mask, k=K)
    torch.testing.assert_close(t2v, ref_t2v)
    torch.testing.assert_close(v2t, ref_v2t)
    # direct check of one entry and of the fill: the top-K of row 0 hold itm_logits[:, 1], the rest -100
    top = sim[0].topk(K).indices
    direct = model.itm_logits(vt[top], tt[[0] * K], mask[[0] * K])[:, 1]
    torch.testing.assert_close(t2v[0, top], direct)
    assert (t2v[0] == -100).sum() == nv - K and (v2t[:, 0] == -100).sum() == nt - K


def test_evaluate_retrieval_single_process(data):
    ds = _dataset(*data)
    loader = DataLoader(ds, batch_size=2, collate_fn=pseudo_collate)
    model = FakeStage2().eval()
    res = evaluate_retrieval(model, loader, k_test=K, itm_batch_size=5, text_batch_size=4)
    assert res['itc'].shape == (9, 5) and res['t2v'].shape == (9, 5) and res['v2t'].shape == (9, 5)
    # ITC equals the direct computation from per-item embeddings
    vfeat = torch.cat([model.encode_vision(model.data_preprocessor(dict(
        inputs=[ds[j]['inputs']], data_samples=[ds[j]['data_samples']]), False)['inputs'][:, 0])[1]
        for j in range(5)])
    ids, m = model.tokenize(ds.texts)
    tfeat = model.encode_text(ids, m)[1]
    torch.testing.assert_close(res['itc'], tfeat @ vfeat.t(), rtol=1e-4, atol=1e-5)
    assert model.pairs_scored == 9 * K + 5 * K
    metrics = retrieval_metrics(res['t2v'], res['txt2vid'], res['vid2txt'], sim_v2t=res['v2t'])
    assert set(metrics) == set(METRIC_KEYS)


def test_loop_through_the_runner(data, tmp_path):
    from mmengine.runner import Runner
    root, ann = data
    runner = Runner(
        model=FakeStage2(), work_dir=str(tmp_path), default_scope='videofm',
        val_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                            dataset=dict(type='RetrievalDataset', ann_file=ann, caption_mode='multi',
                                         data_prefix=dict(video=root), pipeline=PIPELINE, test_mode=True)),
        val_cfg=dict(type='RetrievalValLoop', k_test=K, itm_batch_size=4),
        val_evaluator=dict(type='RetrievalMetric'), default_hooks=dict(logger=dict(type='LoggerHook', interval=1)))
    metrics = runner.val()
    assert set(metrics) == {f'retrieval/{k}{s}' for k in METRIC_KEYS for s in ('', '_itc')}
    ds = _dataset(root, ann)
    res = evaluate_retrieval(FakeStage2().eval(), DataLoader(ds, batch_size=3, collate_fn=pseudo_collate), K)
    ref = retrieval_metrics(res['t2v'], res['txt2vid'], res['vid2txt'], sim_v2t=res['v2t'])
    assert all(metrics[f'retrieval/{k}'] == pytest.approx(v) for k, v in ref.items())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, world, port, root, ann, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        ds = _dataset(root, ann)
        # DefaultSampler pads 5 videos to 6 (rank 1 repeats a video): each must still count once
        loader = DataLoader(ds, batch_size=2, collate_fn=pseudo_collate,
                            sampler=DefaultSampler(ds, shuffle=False, round_up=True))
        model = FakeStage2().eval()
        res = evaluate_retrieval(model, loader, k_test=K, itm_batch_size=4, text_batch_size=2)
        torch.save(dict(pairs=model.pairs_scored, **{k: res[k] for k in ('itc', 't2v', 'v2t')}),
                   os.path.join(out_dir, f'{rank}.pt'))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    leave_distributed_process()  # no interpreter finalisation: gloo can abort there (backbones.compat, workaround 5)


@pytest.mark.slow
def test_two_processes_score_every_query_once(data, tmp_path):
    root, ann = data
    mp.spawn(_worker, args=(2, _free_port(), root, ann, str(tmp_path)), nprocs=2, join=True)
    out = [torch.load(tmp_path / f'{r}.pt') for r in range(2)]
    assert out[0]['pairs'] + out[1]['pairs'] == 9 * K + 5 * K  # each of the 9 + 5 queries scored once
    assert out[0]['pairs'] > 0 and out[1]['pairs'] > 0
    ds = _dataset(root, ann)
    ref = evaluate_retrieval(FakeStage2().eval(), DataLoader(ds, batch_size=2, collate_fn=pseudo_collate), K)
    for r in range(2):
        for key in ('itc', 't2v', 'v2t'):
            torch.testing.assert_close(out[r][key], ref[key], rtol=1e-4, atol=1e-5)


def test_embed_texts_pads_batches_to_one_length():
    model = FakeStage2()
    texts = ['a', 'a b c d', 'b c']
    feat, tok, mask = embed_texts(model, texts, batch_size=1)
    assert tok.shape == (3, 4, 8) and mask.tolist() == [[1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]]
    ids, m = model.tokenize(texts)
    torch.testing.assert_close(feat, model.encode_text(ids, m)[1])


def test_bf16_sharded_model_evaluates_under_its_own_autocast(data, tmp_path):
    """A stage-2 model wrapped in VideoFMFSDP with bf16 mixed precision (1-rank gloo group) holds its gathered weights
    in bf16; the retrieval evaluation, which calls ``encode_vision`` / ``itm_logits`` directly, runs under the
    wrapper's autocast and gives the fp32 model's numbers to bf16 precision (without it: a dtype mismatch)."""
    from backbones import UMTStage2
    from tasks.engine.fsdp import VideoFMFSDP
    root, ann = data
    ds = _dataset(root, ann)
    loader = DataLoader(ds, batch_size=2, collate_fn=pseudo_collate)
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        def build():
            torch.manual_seed(0)
            return UMTStage2(vision=dict(img_size=8, num_frames=2, patch_size=4, tubelet_size=1, embed_dim=32, depth=2,
                                         num_heads=2),
                             text=dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=64, max_position_embeddings=32, fusion_layer=1),
                             tokenizer=dict(path=f'{root}/vocab.txt', max_length=16), embed_dim=16,
                             mask_ratio=dict(video=0., image=0.), mask_type='random',
                             data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.] * 3,
                                                    format_shape='NCTHW'))
        ref_model = build().eval()
        ref = evaluate_retrieval(ref_model, loader, k_test=K)
        sharded = VideoFMFSDP(build(), mixed_precision='bf16')
        sharded.module.load_state_dict(ref_model.state_dict())  # full tensors cut into this rank's shards
        sharded.eval()
        got = evaluate_retrieval(sharded, loader, k_test=K)
    finally:
        dist.destroy_process_group()
    torch.testing.assert_close(got['itc'], ref['itc'], rtol=0, atol=0.02)  # float32 similarities of bf16 features
    assert got['itc'].dtype == torch.float32 and not torch.equal(got['itc'], ref['itc'])  # bf16 features, not fp32
    for key in ('t2v', 'v2t'):
        assert got[key].shape == ref[key].shape == (9, 5)
        # re-ranked: K candidates a row (t2v) / column (v2t); the random model's near-ties may pick others in bf16
        axis = 1 if key == 't2v' else 0
        kept_ref, kept = ref[key] > -100, got[key] > -100
        assert (kept.sum(axis) == K).all()
        both = kept & kept_ref
        torch.testing.assert_close(got[key][both], ref[key][both], rtol=0, atol=0.02)
