"""UMT stage 2 (backbones/umt_stage2.py) at tiny sizes: losses against direct computations, the all-gather path
with 2 CPU processes, official checkpoint layout, tokenizer / BERT loading."""
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from mmaction.structures import ActionDataSample

from backbones import UMTStage2
from backbones.checkpoint import PartialLoadError, convert_umt_stage2_state_dict
from backbones.compat import leave_distributed_process
from backbones.text import mask_tokens
from backbones.umt_stage2 import gather_with_local_grad, vtc_loss, vtm_hard_negatives

WORDS = 'a red blue green circle square triangle moves left right up down the and'.split()
SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
VISION = dict(img_size=32, num_frames=2, patch_size=8, tubelet_size=1, embed_dim=32, depth=3, num_heads=2)
TEXT = dict(vocab_size=len(SPECIAL + WORDS), hidden_size=24, num_hidden_layers=3, num_attention_heads=2,
            intermediate_size=48, max_position_embeddings=16, fusion_layer=2)
TEACHER = dict(img_size=32, patch_size=8, embed_dim=24, depth=3, num_heads=2, proj_dim=16)
CAPTIONS = [('a red circle moves left', 0), ('a blue square moves up', 1), ('red circle left', 0),
            ('green triangle down', 2)]


@pytest.fixture(scope='module')
def vocab(tmp_path_factory):
    path = tmp_path_factory.mktemp('tok') / 'vocab.txt'
    path.write_text('\n'.join(SPECIAL + WORDS) + '\n')
    return str(path)


def build(vocab, seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault('teacher', dict(TEACHER))
    return UMTStage2(vision=dict(VISION), text=dict(TEXT), tokenizer=dict(path=vocab, max_length=10), embed_dim=16,
                     num_align_layers=2, **kw)


def samples(pairs=CAPTIONS):
    out = []
    for text, vid in pairs:
        ds = ActionDataSample()
        ds.set_metainfo(dict(text=text, video_id=vid))
        out.append(ds)
    return out


@pytest.fixture(scope='module')
def model(vocab):
    return build(vocab).eval()


# ------------------------------------------------------------------------------------------------------ VTC
def direct_vtc(v, t, ids, temp):
    """Loop over rows: CE against the uniform distribution over the row's positives, both directions."""
    n = len(ids)
    sim = (v @ t.t()) / temp
    total = 0.
    for mat in (sim, sim.t()):
        for i in range(n):
            pos = [j for j in range(n) if ids[j] == ids[i]]
            logp = mat[i] - torch.logsumexp(mat[i], 0)
            total = total - sum(logp[j] for j in pos) / len(pos) / n
    return total / 2


def test_vtc_equals_direct_computation_with_multi_positive_targets():
    torch.manual_seed(0)
    v, t = F.normalize(torch.randn(5, 8), dim=-1), F.normalize(torch.randn(5, 8), dim=-1)
    ids = [3, 1, 3, 2, 3]  # video 3 has three captions: three positives in its rows and columns
    loss = vtc_loss(v, t, torch.tensor(ids), 0.07)
    torch.testing.assert_close(loss, direct_vtc(v, t, ids, 0.07))
    # all-distinct ids reduce to the usual diagonal CLIP loss
    sim = v @ t.t() / 0.07
    clip = (F.cross_entropy(sim, torch.arange(5)) + F.cross_entropy(sim.t(), torch.arange(5))) / 2
    torch.testing.assert_close(vtc_loss(v, t, torch.arange(5), 0.07), clip)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _gather_worker(rank, world, port, v, t, ids, out_dir):
    import torch.distributed as dist
    from backbones.umt_stage2 import _gather_no_grad
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        n = v.shape[0] // world
        lv = v[rank * n:(rank + 1) * n].clone().requires_grad_(True)
        lt = t[rank * n:(rank + 1) * n].clone().requires_grad_(True)
        lid = ids[rank * n:(rank + 1) * n].clone()
        loss = vtc_loss(gather_with_local_grad(lv), gather_with_local_grad(lt), _gather_no_grad(lid), 0.1)
        loss.backward()
        torch.save((loss.detach(), lv.grad, lt.grad), os.path.join(out_dir, f'rank{rank}.pth'))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    leave_distributed_process()  # no interpreter finalisation: gloo can abort there (backbones.compat, workaround 5)


@pytest.mark.slow
def test_vtc_all_gather_two_processes_gives_the_single_process_gradient(tmp_path):
    torch.manual_seed(0)
    v, t = F.normalize(torch.randn(6, 8), dim=-1), F.normalize(torch.randn(6, 8), dim=-1)
    ids = torch.tensor([0, 1, 2, 0, 3, 1])  # positives across the two ranks
    mp.spawn(_gather_worker, args=(2, _free_port(), v, t, ids, str(tmp_path)), nprocs=2, join=True)
    rv, rt = v.clone().requires_grad_(True), t.clone().requires_grad_(True)
    ref = vtc_loss(rv, rt, ids, 0.1)
    ref.backward()
    for rank in range(2):
        loss, gv, gt = torch.load(tmp_path / f'rank{rank}.pth')
        torch.testing.assert_close(loss, ref.detach())
        torch.testing.assert_close(gv, rv.grad[rank * 3:(rank + 1) * 3])
        torch.testing.assert_close(gt, rt.grad[rank * 3:(rank + 1) * 3])


# ------------------------------------------------------------------------------------------------------ VTM
def test_vtm_hard_negatives_never_pick_a_positive():
    torch.manual_seed(0)
    ids = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    sim = torch.randn(7, 7) * 5
    sim[ids[:, None] == ids[None]] += 50.  # positives dominate the softmax: must still never be drawn
    for seed in range(50):
        g = torch.Generator().manual_seed(seed)
        video_neg, text_neg = vtm_hard_negatives(sim, ids, g)
        assert (ids[video_neg] != ids).all() and (ids[text_neg] != ids).all()
    with pytest.raises(ValueError, match='negative'):
        vtm_hard_negatives(torch.zeros(2, 2), torch.tensor([4, 4]))


def test_vtm_hard_negatives_follow_the_softmax():
    ids = torch.arange(3)
    sim = torch.tensor([[0., 2., 0.], [0., 0., 0.], [1., 0., 0.]])  # video x text
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([vtm_hard_negatives(sim, ids, g)[1] for _ in range(400)])  # text negatives of video 0
    frac = (draws[:, 0] == 1).float().mean()
    expect = torch.softmax(torch.tensor([2., 0.]), 0)[0]  # .88 over the negatives 1 and 2 (std .016 here)
    assert abs(frac - expect) < 0.07 and (draws[:, 0] != 0).all()


def test_vtm_loss_equals_direct_computation(model):
    ids, mask = model.tokenize([c for c, _ in CAPTIONS])
    vid = torch.tensor([v for _, v in CAPTIONS])
    with torch.no_grad():
        vtok, vfeat = model.encode_vision(torch.randn(4, 3, 2, 32, 32))
        ttok, tfeat = model.encode_text(ids, mask)
        torch.manual_seed(3)
        loss, (video_neg, text_neg) = model.vtm_loss(vtok, ttok, mask, vfeat, tfeat, vid)
        assert (vid[video_neg] != vid).all() and (vid[text_neg] != vid).all()
        terms = []
        for i in range(4):
            for v, t, label in ((i, i, 1), (int(video_neg[i]), i, 0), (i, int(text_neg[i]), 0)):
                logits = model.itm_logits(vtok[v:v + 1], ttok[t:t + 1], mask[t:t + 1])
                terms.append(F.cross_entropy(logits, torch.tensor([label])))
        # the loss averages over [positives, video negatives, text negatives]; the order does not matter
        torch.testing.assert_close(loss, torch.stack(terms).mean(), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------------------ MLM
def test_mlm_masking_statistics_and_special_tokens():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 20, (400, 50), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -5:] = True  # [CLS] and padding / [SEP]
    out, labels = mask_tokens(ids, special, 20, mask_token_id=4, prob=0.5, generator=g)
    chosen = labels != -100
    assert not chosen[special].any() and (out[special] == ids[special]).all()
    assert (labels[chosen] == ids[chosen]).all() and (out[~chosen] == ids[~chosen]).all()
    n = chosen.sum().item()
    assert abs(n / (~special).sum().item() - 0.5) < 0.02
    masked = (out == 4) & chosen
    kept = (out == ids) & chosen
    assert abs(masked.sum().item() / n - 0.8) < 0.02
    # 10 % random ids (which equal the original 1/20 of the time) and 10 % kept
    assert abs(kept.sum().item() / n - (0.1 + 0.1 / 20)) < 0.02
    assert abs((chosen & ~masked & ~kept).sum().item() / n - 0.1 * 19 / 20) < 0.02


def test_mlm_never_masks_special_tokens_of_the_tokenizer(model):
    ids, mask = model.tokenize(['a red circle', 'green up and down'])
    torch.manual_seed(0)
    for _ in range(20):
        _, labels = model.mask_text(ids)
        tok = model.tokenizer
        assert not (labels != -100)[(ids == tok.cls_token_id) | (ids == tok.sep_token_id)
                                    | (ids == tok.pad_token_id)].any()


def test_mlm_loss_equals_direct_cross_entropy(model):
    ids, mask = model.tokenize([c for c, _ in CAPTIONS])
    with torch.no_grad():
        vtok, _ = model.encode_vision(torch.randn(4, 3, 2, 32, 32))
        torch.manual_seed(1)
        masked = model.mask_text(ids)
        loss = model.mlm_loss(ids, mask, vtok, masked)
        # direct: the whole BERT-with-fusion on the corrupted ids, MLM head on every position, CE ignoring -100
        enc = model.text_encoder
        x = enc.bert.embeddings(input_ids=masked[0])
        ext = (1. - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for i, layer in enumerate(enc.bert.encoder.layer):
            kw = dict(encoder_hidden_states=vtok) if i >= TEXT['fusion_layer'] else {}
            x = layer(x, attention_mask=ext, **kw)[0]
        logits = enc.cls(x)
        ref = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), masked[1].reshape(-1), ignore_index=-100)
    assert (masked[1] != -100).any()
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- architecture
def test_cross_attention_only_in_fusion_layers_with_vision_width(model):
    layers = model.text_encoder.bert.encoder.layer
    for i, layer in enumerate(layers):
        assert hasattr(layer, 'crossattention') == (i >= TEXT['fusion_layer'])
    ca = layers[-1].crossattention.self
    assert ca.key.in_features == ca.value.in_features == VISION['embed_dim']
    assert ca.query.in_features == TEXT['hidden_size']
    keys = model.state_dict()
    assert 'text_encoder.bert.encoder.layer.2.crossattention.self.key.weight' in keys
    assert not any(k.startswith('text_encoder.bert.encoder.layer.1.crossattention') for k in keys)
    assert not any('teacher' in k or 'pooler' in k for k in keys)


def test_bert_presets_fusion_layers():
    from backbones.presets import get_text_preset
    base, large = get_text_preset('bert-base'), get_text_preset('bert-large')
    assert (base['fusion_layer'], base['num_hidden_layers'] - base['fusion_layer']) == (9, 3)
    assert (large['fusion_layer'], large['num_hidden_layers'] - large['fusion_layer']) == (19, 5)


def test_temperature_clamp(vocab):
    m = build(vocab, teacher=None, mask_type='tube')
    assert m.temperature.item() == pytest.approx(0.07)
    with torch.no_grad():
        m.temp.fill_(3.)
    assert m.temperature.item() == pytest.approx(0.5)
    m.loss(torch.randn(4, 3, 2, 32, 32), samples())
    assert m.temp.item() == pytest.approx(0.5)  # clamped in place each step, as official
    with torch.no_grad():
        m.temp.fill_(1e-5)
    assert m.temperature.item() == pytest.approx(0.001)


def test_shapes(model):
    ids, mask = model.tokenize(['a red circle', 'blue'])
    assert ids.shape == mask.shape == (2, 10)  # padding='max_length'
    vtok, vfeat = model.encode_vision(torch.randn(2, 3, 2, 32, 32))
    assert vtok.shape == (2, 32, 32) and vfeat.shape == (2, 16)
    torch.testing.assert_close(vfeat.norm(dim=-1), torch.ones(2))
    _, per_frame = model.encode_vision(torch.randn(2, 3, 2, 32, 32), keep_temporal=True)
    assert per_frame.shape == (2, 2, 16)
    vmask, _ = model.encode_vision(torch.randn(2, 3, 2, 32, 32), masked=True)
    assert vmask.shape == (2, 2 * (16 - int(0.8 * 16)), 32)
    ttok, tfeat = model.encode_text(ids, mask)
    assert ttok.shape == (2, 10, 24) and tfeat.shape == (2, 16)
    assert model.fuse(vtok, ttok, mask).shape == (2, 10, 24)
    assert model.itm_logits(vtok, ttok, mask).shape == (2, 2)
    assert model.similarity(per_frame, tfeat).shape == (2, 2)


def test_loss_step_gives_gradients_to_the_trained_parameters(vocab):
    m = build(vocab).train()
    losses = m.loss(torch.randn(4, 1, 3, 2, 32, 32), samples())  # (B, num_clips=1, ...) accepted
    assert set(losses) == {'loss_vtc', 'loss_vtm', 'loss_mlm', 'loss_align'}
    sum(losses.values()).backward()
    no_grad = [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad
    assert all(p.grad is None for p in m.teacher.parameters())
    # images (1-frame clips) use the image ratio 0.5 and the same losses
    m.zero_grad()
    losses = m.loss(torch.randn(4, 3, 1, 32, 32), samples())
    assert set(losses) == {'loss_vtc', 'loss_vtm', 'loss_mlm', 'loss_align'}
    # without MLM the unused head parts are frozen (DDP would otherwise see parameters without gradient)
    m = build(vocab, loss_weights=dict(mlm=0., align=0.))
    losses = m.loss(torch.randn(4, 3, 2, 32, 32), samples())
    assert set(losses) == {'loss_vtc', 'loss_vtm'}
    sum(losses.values()).backward()
    assert not [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]


def test_bad_data_samples_and_settings(vocab, model):
    bad = ActionDataSample()
    bad.set_metainfo(dict(text='a red circle'))
    with pytest.raises(KeyError, match='video_id'):
        model.loss(torch.randn(1, 3, 2, 32, 32), [bad])
    with pytest.raises(ValueError, match='teacher'):
        build(vocab, teacher=None)  # semantic masks need the teacher
    with pytest.raises(ValueError, match='pos_ref_grid'):
        UMTStage2(vision=dict(arch='umt-base', depth=1), text=dict(TEXT), tokenizer=dict(path=vocab),
                  teacher=None, mask_type='tube')


# ------------------------------------------------------------------------------------------------ tokenizer
def test_tokenizer_errors_name_the_path_and_the_key(vocab, tmp_path):
    kw = dict(vision=dict(VISION), text=dict(TEXT), teacher=None, mask_type='tube')
    with pytest.raises(ValueError, match=r'tokenizer=dict\(path=\.\.\.\)'):
        UMTStage2(tokenizer=dict(), **kw)
    missing = tmp_path / 'nope' / 'vocab.txt'
    with pytest.raises(FileNotFoundError, match=r"nope/vocab.txt.*tokenizer=dict\(path"):
        UMTStage2(tokenizer=dict(path=str(missing)), **kw)
    bad = tmp_path / 'words.txt'
    bad.write_text('a\nb\n')
    with pytest.raises(ValueError, match=r"words.txt.*\[PAD\]"):
        UMTStage2(tokenizer=dict(path=str(bad)), **kw)
    with pytest.raises(ValueError, match='without tokenizer.json or vocab.txt'):
        UMTStage2(tokenizer=dict(path=str(tmp_path)), **kw)


def test_saved_tokenizer_directory_loads(model, tmp_path):
    model.tokenizer.save_pretrained(str(tmp_path / 'tok'))
    m = UMTStage2(vision=dict(VISION), text=dict(TEXT), tokenizer=dict(path=str(tmp_path / 'tok'), max_length=10),
                  teacher=None, mask_type='tube')
    a, b = m.tokenize(['A red circle']), model.tokenize(['a red circle'])  # uncased
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0][0, :5].tolist() == [2, 5, 6, 9, 3]  # [CLS] a red circle [SEP]


# ------------------------------------------------------------------------------------------------ weights
def _official_layout(model):
    """The model's weights as an official stage-2 checkpoint writes them (older transformers)."""
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd['text_encoder.bert.embeddings.position_ids'] = torch.arange(TEXT['max_position_embeddings'])[None]
    del sd['text_encoder.cls.predictions.decoder.weight'], sd['text_encoder.cls.predictions.decoder.bias']
    sd['text_encoder.bert.embeddings.LayerNorm.gamma'] = sd.pop('text_encoder.bert.embeddings.LayerNorm.weight')
    sd['text_encoder.bert.embeddings.LayerNorm.beta'] = sd.pop('text_encoder.bert.embeddings.LayerNorm.bias')
    for k, v in model.teacher.vit.state_dict().items():  # the teacher as saved by the official code
        sd[f'clip_teacher.{k}'] = v.clone()
    from backbones.layers.pos_embed import sincos_table
    sd['vision_encoder.encoder.img_pos_embed'] = sincos_table(16, 32)[None].clone()
    return {'model': sd, 'optimizer': {}, 'scheduler': {}, 'scaler': {}, 'config': {}, 'epoch': 9,
            'global_step': 100}


def test_official_stage2_checkpoint_loads_with_nothing_missing(vocab, tmp_path):
    src = build(vocab, seed=0).eval()
    path = tmp_path / 'umt_stage2.pth'
    torch.save(_official_layout(src), path)
    dst = build(vocab, seed=1, init_cfg=dict(type='Pretrained', checkpoint=str(path))).eval()
    assert not torch.equal(dst.vision_proj.weight, src.vision_proj.weight)
    dst.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    x = torch.randn(2, 3, 2, 32, 32)
    ids, mask = src.tokenize(['a red circle', 'blue square up'])
    with torch.no_grad():
        for m in (src, dst):
            vt, vf = m.encode_vision(x)
            tt, tf = m.encode_text(ids, mask)
            m.out = (vf, tf, m.itm_logits(vt, tt, mask))
    for a, b in zip(src.out, dst.out):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    # a missing weight is an error naming it
    ckpt = _official_layout(src)
    del ckpt['model']['itm_head.weight']
    torch.save(ckpt, path)
    with pytest.raises(PartialLoadError, match='itm_head'):
        build(vocab, seed=1, init_cfg=dict(type='Pretrained', checkpoint=str(path))).init_weights()


def test_stage2_converter_is_explicit_about_transformers_keys(model):
    ckpt = _official_layout(model)
    sd, report = convert_umt_stage2_state_dict(ckpt)
    assert 'text_encoder.bert.embeddings.position_ids' not in sd
    assert 'text_encoder.bert.embeddings.LayerNorm.weight' in sd
    assert torch.equal(sd['text_encoder.cls.predictions.decoder.weight'],
                       sd['text_encoder.bert.embeddings.word_embeddings.weight'])
    assert not any(k.startswith('clip_teacher.') or 'pos_embed' in k for k in sd)
    assert any('teacher' in reason for reason in report.dropped)
    ckpt['model']['text_encoder.bert.embeddings.position_ids'] = torch.arange(1, 17)[None]
    with pytest.raises(ValueError, match='position_ids'):
        convert_umt_stage2_state_dict(ckpt)


def test_stage1_checkpoint_initialises_the_vision_encoder(vocab, tmp_path):
    from backbones import UMTPretrainer
    torch.manual_seed(5)
    s1 = UMTPretrainer(encoder=dict(VISION), teacher=dict(TEACHER), num_align_layers=2)
    path = tmp_path / 'stage1.pth'
    torch.save({'model': s1.state_dict(), 'epoch': 1}, path)
    m = build(vocab, seed=1, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    m.init_weights()
    for k, v in s1.state_dict().items():
        assert torch.equal(m.vision_encoder.state_dict()[k], v), k


def test_local_bert_directory_loads_except_fresh_cross_attention(vocab, tmp_path):
    from transformers import BertConfig, BertForMaskedLM
    sizes = {k: v for k, v in TEXT.items() if k != 'fusion_layer'}
    torch.manual_seed(7)
    bert = BertForMaskedLM(BertConfig(**sizes))
    bert.save_pretrained(str(tmp_path / 'bert'))
    m = UMTStage2(vision=dict(VISION), text=dict(pretrained=str(tmp_path / 'bert'), fusion_layer=2),
                  tokenizer=dict(path=vocab, max_length=10), teacher=None, mask_type='tube')
    mine = m.text_encoder.state_dict()
    for k, v in bert.state_dict().items():
        if 'pooler' in k:
            continue
        assert torch.equal(mine[k], v), k  # fusion layers' self-attention and FFN too
    assert any('crossattention' in k for k in mine)
    with pytest.raises(ValueError, match='disagrees'):
        UMTStage2(vision=dict(VISION), text=dict(pretrained=str(tmp_path / 'bert'), fusion_layer=2, hidden_size=48),
                  tokenizer=dict(path=vocab, max_length=10), teacher=None, mask_type='tube')
    with pytest.raises(FileNotFoundError, match='config.json'):
        UMTStage2(vision=dict(VISION), text=dict(pretrained=str(tmp_path / 'none'), fusion_layer=2),
                  tokenizer=dict(path=vocab, max_length=10), teacher=None, mask_type='tube')


def test_text_layers_equal_a_plain_transformers_bert(model):
    """encode_text's tokens = transformers' BertModel with the first fusion_layer layers (same weights)."""
    from transformers import BertConfig, BertModel
    sizes = {k: v for k, v in TEXT.items() if k != 'fusion_layer'}
    ref = BertModel(BertConfig(**dict(sizes, num_hidden_layers=TEXT['fusion_layer'])), add_pooling_layer=False)
    sd = {k[len('text_encoder.bert.'):]: v for k, v in model.state_dict().items() if k.startswith('text_encoder.bert.')}
    missing, _ = ref.load_state_dict(sd, strict=False)
    assert not missing
    ref.eval()
    ids, mask = model.tokenize(['a red circle moves', 'blue'])
    with torch.no_grad():
        tokens, feat = model.encode_text(ids, mask)
        want = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    keep = mask.bool()  # padded positions are never read (masked in every attention)
    torch.testing.assert_close(tokens[keep], want[keep], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(feat, F.normalize(model.text_proj(want[:, 0]), dim=-1), atol=1e-5, rtol=1e-5)


def test_text_gradient_checkpointing_keeps_outputs_and_gradients(vocab):
    grads = []
    for cp in (False, True):
        torch.manual_seed(0)
        m = UMTStage2(vision=dict(VISION), text=dict(TEXT, gradient_checkpointing=cp, hidden_dropout_prob=0.,
                                                     attention_probs_dropout_prob=0.),
                      tokenizer=dict(path=vocab, max_length=10), teacher=None, mask_type='tube').train()
        ids, mask = m.tokenize(['a red circle', 'green up'])
        vtok = torch.randn(2, 5, 32)
        out = m.fuse(vtok, m.encode_text(ids, mask)[0], mask)
        out.square().sum().backward()
        grads.append((out.detach(), m.text_encoder.bert.encoder.layer[0].attention.self.query.weight.grad))
    assert m.text_encoder.bert.encoder.layer[0].gradient_checkpointing
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


def test_official_stage2_checkpoint_loads_through_the_runner_loader(vocab, tmp_path):
    """``tools/test.py CONFIG OFFICIAL.pth`` (zero-shot retrieval) goes through ``load_model_checkpoint``."""
    from tasks.engine.runner import load_model_checkpoint
    src = build(vocab, seed=0).eval()
    path = tmp_path / 'umt_stage2.pth'
    torch.save(_official_layout(src), path)
    dst = build(vocab, seed=1).eval()
    load_model_checkpoint(dst, str(path), strict=True)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    ckpt = _official_layout(src)
    del ckpt['model']['itm_head.weight']
    torch.save(ckpt, path)
    with pytest.raises(PartialLoadError, match='itm_head'):
        load_model_checkpoint(build(vocab, seed=1), str(path), strict=True)
