import pytest
import torch
from mmaction.structures import ActionDataSample

from backbones import VideoMAEv2Pretrainer, VideoViT
from backbones.checkpoint import convert_state_dict
from backbones.masking import running_cell_mask, tube_mask
from backbones.videomae_v2 import pixel_targets

ENC = dict(img_size=32, num_frames=4, patch_size=8, tubelet_size=2, embed_dim=32, depth=2, num_heads=2)


def tiny(**kw):
    torch.manual_seed(0)
    return VideoMAEv2Pretrainer(encoder=dict(ENC), decoder_dim=16, decoder_heads=2, decoder_depth=1, **kw)


@pytest.mark.parametrize('tubelet', [1, 2, 4])
def test_pixel_targets_hand_made_patch(tubelet):
    p = 2
    videos = torch.rand(1, 3, 4, 4, 4)
    out = pixel_targets(videos, tubelet, p)
    assert out.shape == (1, (4 // tubelet) * 2 * 2, tubelet * p * p * 3)
    # token 1 = (t 0, h 0, w 1): pixels frames [0, tubelet), rows [0, 2), cols [2, 4)
    patch = videos[0, :, :tubelet, 0:2, 2:4]  # (C, t, p, p)
    pix = patch.permute(1, 2, 3, 0).reshape(-1, 3)  # (t*p*p, C), pixel-major
    want = (pix - pix.mean(0)) / (pix.var(0, unbiased=True).sqrt() + 1e-6)
    torch.testing.assert_close(out[0, 1], want.reshape(-1))
    raw = pixel_targets(videos, tubelet, p, normalize=False)
    torch.testing.assert_close(raw[0, 1], pix.reshape(-1))


def samples(enc, dec=None):
    out = []
    for i in range(enc.shape[0]):
        ds = ActionDataSample()
        ds.set_metainfo(dict(encoder_mask=enc[i].numpy(), **({} if dec is None else dict(decoder_mask=dec[i].numpy()))))
        out.append(ds)
    return out


def test_loss_equals_direct_recomputation():
    model = tiny()
    x = torch.randn(2, 3, 4, 32, 32)
    grid = (2, 4, 4)
    enc, dec = tube_mask(2, grid, 0.75), running_cell_mask(2, grid, 0.5)
    loss = model.loss(x, samples(enc, dec))['loss_pix']

    # direct: full-sequence bookkeeping with boolean indexing, as the official engine
    m = model
    vis = m.encoder.forward_features(x, torch.stack([(~e).nonzero()[:, 0] for e in enc]))
    vis = m.encoder_to_decoder(vis)
    from backbones.layers.pos_embed import sincos_table
    pos = sincos_table(32, 16)[None].expand(2, -1, -1)
    x_full = torch.cat([vis + pos[~enc].view(2, -1, 16), m.mask_token + pos[~dec].view(2, -1, 16)], 1)
    pred = m.decoder(x_full, int((~dec[0]).sum()))
    videos = x * m.pix_std + m.pix_mean
    labels = pixel_targets(videos, 2, 8)[~dec].view(2, -1, 384)
    per = ((pred - labels) ** 2).mean(-1)
    w = enc[~dec].view(2, -1).float()
    torch.testing.assert_close(loss, (per * w).sum() / w.sum())


def test_v1_mode_all_masked_tokens_are_queries():
    model = tiny(decoder_mask=None)
    x = torch.randn(2, 3, 4, 32, 32)
    assert model(x, mode="tensor").shape == (2, 32 - 2 * 2, 384)  # tube .9: 2 of 16 visible per slot
    assert torch.isfinite(model(x, mode='loss')['loss_pix'])
    model2 = tiny(decoder_mask=dict(kind='running_cell', ratio=0.))
    assert model2.decoder_mask is None


def test_dual_masking_shapes_and_backward():
    model = tiny()
    x = torch.randn(2, 3, 4, 32, 32)
    assert model(x, mode='tensor').shape == (2, 16, 384)  # running cell .5: half the tokens are queries
    model(x, mode='loss')['loss_pix'].backward()
    assert model.encoder.patch_embed.proj.weight.grad is not None and model.mask_token.grad is not None


def test_visible_tubelet_embedding_equals_full_embedding():
    enc = VideoViT(**ENC).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    idx = torch.stack([torch.randperm(32)[:7].sort().values for _ in range(2)])
    full = enc.embed(x)
    torch.testing.assert_close(enc.embed(x, idx), torch.gather(full, 1, idx[..., None].expand(-1, -1, 32)))


def test_decoder_presets():
    m = VideoMAEv2Pretrainer(encoder=dict(arch='small', img_size=32, num_frames=4, depth=1))
    assert m.decoder_dim == 192 and m.decoder.blocks[0].attn.num_heads == 3 and len(m.decoder.blocks) == 4
    assert m.decoder.head.out_features == 3 * 2 * 16 * 16


def test_checkpoint_round_trips(tmp_path):
    model = tiny()
    sd = model.state_dict()
    assert {'encoder_to_decoder.weight', 'mask_token', 'decoder.head.weight', 'encoder.norm.weight'} <= set(sd)
    # pretrainer -> VideoViT (pretraining encoder: final norm, no fc_norm)
    backbone_sd, _ = convert_state_dict({'model': sd}, 'backbone')
    vit = VideoViT(**ENC, use_mean_pooling=False)
    res = vit.load_state_dict(backbone_sd, strict=False)
    assert res.missing_keys == [] and res.unexpected_keys == []
    # official-style pretrain checkpoint -> pretrainer via init_cfg
    official = {'model': {k: v.clone() + 1 for k, v in sd.items()}, 'epoch': 3}
    path = tmp_path / 'official.pth'
    torch.save(official, path)
    other = tiny(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    other.init_weights()
    for k, v in other.state_dict().items():
        torch.testing.assert_close(v, official['model'][k], msg=k)


def test_loss_is_encoder_decoder_and_forward_loss():
    """mae's layout: loss() = forward_loss(forward_decoder(forward_encoder(...)))."""
    from backbones.masking import mask_to_index
    model = tiny()
    x = torch.randn(2, 3, 4, 32, 32)
    grid = (2, 4, 4)
    enc, dec = tube_mask(2, grid, 0.75), running_cell_mask(2, grid, 0.5)
    loss = model.loss(x, samples(enc, dec))['loss_pix']
    latent, vis_idx = model.forward_encoder(x, enc, 8)
    assert latent.shape == (2, 8, 32) and torch.equal(vis_idx, mask_to_index(enc, 8))
    query_idx = mask_to_index(dec, 16)
    pred = model.forward_decoder(latent, vis_idx, query_idx, 32)
    assert pred.shape == (2, 16, 384)
    torch.testing.assert_close(model.forward_loss(x, pred, query_idx, enc), loss, atol=0, rtol=0)


def official_decoder_block(block, x):
    """The official pretraining decoder block with layer scale, written out."""
    x = x + block.gamma_1 * block.attn(block.norm1(x))
    return x + block.gamma_2 * block.mlp(block.norm2(x))


def test_decoder_layer_scale_loads_from_an_official_checkpoint_and_round_trips(tmp_path):
    """A checkpoint trained with init_values has decoder.blocks.i.gamma_1/gamma_2 (issue 12, item 4)."""
    model = tiny(decoder_init_values=0.1)
    assert model.decoder.blocks[0].gamma_1 is not None
    assert tiny(decoder_init_values=0.).decoder.blocks[0].gamma_1 is None and tiny().decoder.blocks[0].gamma_1 is None
    # official layout: one init_values for encoder and decoder, under 'model', with the official args
    enc_ls = VideoMAEv2Pretrainer(encoder=dict(ENC, init_values=0.1), decoder_dim=16, decoder_heads=2,
                                  decoder_depth=1)
    assert enc_ls.decoder.blocks[0].gamma_2 is not None  # follows the encoder's init_values
    official = {k: v.clone() + torch.randn_like(v) * 0.1 for k, v in enc_ls.state_dict().items()}
    assert {'decoder.blocks.0.gamma_1', 'decoder.blocks.0.gamma_2', 'encoder.blocks.1.gamma_1'} <= set(official)
    path = tmp_path / 'official_pretrain.pth'
    torch.save({'model': official, 'epoch': 1}, path)
    other = VideoMAEv2Pretrainer(encoder=dict(ENC, init_values=0.1), decoder_dim=16, decoder_heads=2,
                                 decoder_depth=1, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    other.init_weights()
    for k, v in other.state_dict().items():
        torch.testing.assert_close(v, official[k], atol=0, rtol=0, msg=k)
    x = torch.randn(2, 10, 16)
    with torch.no_grad():
        want = other.decoder.head(other.decoder.norm(official_decoder_block(other.decoder.blocks[0], x)[:, -4:]))
        torch.testing.assert_close(other.decoder.eval()(x, 4), want)
    # and back: saved state dict -> a fresh model, identical outputs
    again = VideoMAEv2Pretrainer(encoder=dict(ENC, init_values=0.1), decoder_dim=16, decoder_heads=2,
                                 decoder_depth=1)
    again.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again.decoder.eval()(x, 4), want, atol=0, rtol=0)
