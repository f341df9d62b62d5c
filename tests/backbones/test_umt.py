import torch
import torch.nn.functional as F

from backbones import CLIPTeacher, UMTPretrainer
from backbones.teachers.clip import convert_clip_state_dict
from backbones.umt import align_loss

ENC = dict(img_size=32, num_frames=2, patch_size=8, tubelet_size=1, embed_dim=32, depth=4, num_heads=2)
TEACHER = dict(img_size=32, patch_size=8, embed_dim=24, depth=4, num_heads=2, proj_dim=16)


def tiny(**kw):
    torch.manual_seed(0)
    return UMTPretrainer(encoder=dict(ENC), teacher=dict(TEACHER), num_align_layers=3, **kw)


def test_teacher_outside_optimizer_state_dict_and_module_tree():
    from mmengine.optim import build_optim_wrapper
    model = tiny()
    teacher_params = {id(p) for p in model.teacher.parameters()}
    assert not teacher_params & {id(p) for p in model.parameters()}
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert not any('teacher' in k or k.startswith('vit.') for k in model.state_dict())
    assert not any(m is model.teacher for m in model.modules())
    wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-3)))
    in_opt = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert not in_opt & teacher_params
    model.train()
    assert not model.teacher.training
    assert set(model.state_dict()) >= {'clip_decoder.0.head.weight', 'clip_decoder.2.norm.bias'}


def test_stage1_loss_equals_direct_recomputation():
    model = tiny(mask_type='tube', mask_ratio=0.5)
    x = torch.randn(2, 3, 2, 32, 32)
    torch.manual_seed(1)
    loss = model.loss(x)['loss_align']
    torch.manual_seed(1)
    tokens, vis = model.forward_teacher(x)
    student = model.forward_decoder(model.forward_encoder(x, vis), vis, 32)
    target = model.forward_targets(tokens, vis)
    torch.testing.assert_close(loss, align_loss(student, target))
    torch.testing.assert_close(model.forward_loss(student, target), loss)
    # direct: teacher on all tokens with ln_post + proj, then select; student heads per layer
    vit = model.teacher.vit
    frames = x.transpose(1, 2).reshape(4, 3, 32, 32)
    tok = vit.norm_pre(vit._pos_embed(vit.patch_embed(frames)))
    outs = []
    for blk in vit.blocks:
        tok = blk(tok)
        outs.append(tok[:, 1:].reshape(2, 32, -1))
    tgt = [F.normalize(vit.head(vit.norm(o)), dim=-1) for o in outs[-3:]]
    inter = model.encoder.forward_intermediates(x, [-3, -2, -1], vis, intermediates_only=True)
    from backbones.layers.pos_embed import sincos_table
    pos = sincos_table(32, 32)
    total = 0
    for i in range(3):
        s = model.encoder.norm(inter[i]) + pos[vis]
        s = F.normalize(model.clip_decoder[i](s), dim=-1)
        t = torch.stack([tgt[i][b, vis[b]] for b in range(2)])
        total = total + (2 - 2 * (s * t).sum(-1)).mean()
    torch.testing.assert_close(loss, total / 3)
    loss.backward()
    assert model.clip_decoder[0].head.weight.grad is not None


def test_teacher_cls_attention_matches_full_attention():
    teacher = CLIPTeacher(**TEACHER, num_return_layers=2)
    x = torch.randn(1, 3, 2, 32, 32)
    _, attn = teacher(x)
    vit = teacher.vit
    tok = vit.norm_pre(vit._pos_embed(vit.patch_embed(x.transpose(1, 2).reshape(2, 3, 32, 32))))
    for blk in vit.blocks[:-1]:
        tok = blk(tok)
    a = vit.blocks[-1].attn
    qkv = a.qkv(vit.blocks[-1].norm1(tok)).reshape(2, 17, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)
    full = ((qkv[0] @ qkv[1].transpose(-1, -2)) * a.head_dim ** -.5).softmax(-1)  # (2, H, 17, 17)
    torch.testing.assert_close(attn.reshape(2, 16), full[:, :, 0, 1:].mean(1))


def test_semantic_mask_uses_teacher_attention():
    model = tiny(mask_ratio=0.75)
    x = torch.randn(2, 3, 2, 32, 32)
    tokens, vis = model.forward_teacher(x)
    student = model.forward_decoder(model.forward_encoder(x, vis), vis, tokens.shape[2])
    target = model.forward_targets(tokens, vis)
    assert student.shape == target.shape == (3, 2, 2 * 4, 16)
    assert vis.shape == (2, 8)


def _to_openai(sd):
    """Inverse of the converter, to fake an OpenAI CLIP checkpoint from a timm model."""
    out = {}
    for k, v in sd.items():
        if k == 'cls_token':
            out['visual.class_embedding'] = v.reshape(-1)
        elif k == 'pos_embed':
            out['visual.positional_embedding'] = v[0]
        elif k == 'head.weight':
            out['visual.proj'] = v.t()
        elif k == 'head.bias':
            continue
        else:
            k = (k.replace('patch_embed.proj', 'conv1').replace('norm_pre', 'ln_pre').replace('blocks.', 'transformer.resblocks.')
                 .replace('norm1', 'ln_1').replace('norm2', 'ln_2').replace('attn.qkv.', 'attn.in_proj_')
                 .replace('attn.proj', 'attn.out_proj').replace('mlp.fc1', 'mlp.c_fc').replace('mlp.fc2', 'mlp.c_proj'))
            k = 'ln_post.' + k.split('.', 1)[1] if k.startswith('norm.') else k
            out['visual.' + k] = v
    out['transformer.resblocks.0.attn.in_proj_weight'] = torch.zeros(3)  # text tower: ignored
    return out


def test_openai_clip_checkpoint_loads_into_teacher(tmp_path):
    src = CLIPTeacher(**TEACHER, num_return_layers=2)
    with torch.no_grad():
        for p in src.vit.head.parameters():
            p.normal_()
        src.vit.head.bias.zero_()
    official = _to_openai(src.vit.state_dict())
    assert 'visual.transformer.resblocks.0.attn.in_proj_weight' in official and 'visual.ln_post.weight' in official
    conv = convert_clip_state_dict(official)
    assert set(conv) == set(src.vit.state_dict())
    path = tmp_path / 'clip.pth'
    torch.save(official, path)
    teacher = CLIPTeacher(**TEACHER, num_return_layers=2, checkpoint=str(path))
    x = torch.randn(1, 3, 2, 32, 32)
    torch.testing.assert_close(teacher(x)[0], src(x)[0])
    # an L/14-style grid change: the position table is resampled at load
    bigger = CLIPTeacher(**{**TEACHER, 'img_size': 48}, num_return_layers=2, checkpoint=str(path))
    assert bigger.vit.pos_embed.shape[1] == 1 + 36


def test_stage1_checkpoint_round_trip(tmp_path):
    from backbones import VideoViT
    from backbones.checkpoint import convert_state_dict
    model = tiny()
    sd = model.state_dict()
    vit_sd, _ = convert_state_dict({'model': sd}, 'backbone')
    res = VideoViT(**ENC, use_mean_pooling=False).load_state_dict(vit_sd, strict=False)
    assert res.missing_keys == [] and res.unexpected_keys == []
    path = tmp_path / 'umt_stage1.pth'
    torch.save({'model': {k: v + 1 for k, v in sd.items()}}, path)
    other = tiny(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    other.init_weights()
    torch.testing.assert_close(other.clip_decoder[1].head.weight, sd['clip_decoder.1.head.weight'] + 1)


def test_building_leaves_the_encoder_config_alone():
    """UMT asks the encoder for its last K blocks at call time; it rewrites no encoder setting."""
    model = UMTPretrainer(encoder=dict(ENC, out_indices=(0,), out_type='tokens'), teacher=dict(TEACHER),
                          num_align_layers=3)
    assert model.encoder.out_indices == (0,) and model.encoder.out_type == 'tokens'
    assert tiny().encoder.out_indices == (-1,)  # the VideoViT default
    x = torch.randn(1, 3, 2, 32, 32)
    vis = torch.arange(0, 32, 4)[None]
    with torch.no_grad():
        latent = model.forward_encoder(x, vis)
        want = model.encoder.forward_intermediates(x, [1, 2, 3], vis, intermediates_only=True)
    assert latent.shape == (3, 1, 8, 32)
    for i in range(3):
        torch.testing.assert_close(latent[i], model.encoder.norm(want[i]), atol=0, rtol=0)


def test_num_align_layers_deeper_than_the_encoder_raises():
    import pytest
    with pytest.raises(ValueError, match='num_align_layers'):
        UMTPretrainer(encoder=dict(ENC), teacher=dict(TEACHER), num_align_layers=5)


def test_clip_conversion_finds_the_visual_tower_under_every_prefix():
    src = CLIPTeacher(**TEACHER, num_return_layers=2).vit.state_dict()
    official = _to_openai(src)
    visual = {k[len('visual.'):]: v for k, v in official.items() if k.startswith('visual.')}
    for prefix in ('visual.', 'clip_teacher.', 'vision_encoder.clip_teacher.', 'module.visual.', ''):
        conv = convert_clip_state_dict({prefix + k: v for k, v in visual.items()})
        assert set(conv) == set(src), prefix
        torch.testing.assert_close(conv['blocks.1.attn.qkv.weight'], src['blocks.1.attn.qkv.weight'])
        assert conv['cls_token'].shape == src['cls_token'].shape and conv['pos_embed'].shape == src['pos_embed'].shape
    assert convert_clip_state_dict(src).keys() == src.keys()  # already timm


def test_clip_teacher_errors_name_the_users_file(tmp_path):
    import pytest
    path = tmp_path / 'not_clip.pth'
    torch.save({'model': {'foo.weight': torch.zeros(2)}}, path)
    with pytest.raises(ValueError, match='not_clip.pth') as err:
        CLIPTeacher(**TEACHER, num_return_layers=2, checkpoint=str(path))
    assert 'backbones/' not in str(err.value) and 'conv1.weight' in str(err.value)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        CLIPTeacher(**TEACHER, num_return_layers=2, checkpoint=str(tmp_path / 'missing.pth'))
    # a visual tower of another width: the file and the arch are named
    wide = CLIPTeacher(**{**TEACHER, 'embed_dim': 32}, num_return_layers=2)
    path = tmp_path / 'wide.pth'
    torch.save(_to_openai(wide.vit.state_dict()), path)
    with pytest.raises(RuntimeError, match='wide.pth') as err:
        CLIPTeacher(**TEACHER, num_return_layers=2, checkpoint=str(path))
    assert 'vit_base_patch16_clip_224' in str(err.value)


def test_align_heads_use_the_official_layernorm_eps():
    """Official clip_decoder: Linear then LayerNorm(eps=1e-6). With small head weights the eps shows."""
    model = tiny()
    assert all(head.norm.eps == 1e-6 for head in model.clip_decoder)
    head = model.clip_decoder[0]
    with torch.no_grad():
        head.head.weight.mul_(1e-3)
        head.head.bias.zero_()
        head.norm.weight.normal_()
        x = torch.randn(5, 32)
        official = F.layer_norm(F.linear(x, head.head.weight, head.head.bias), (16,), head.norm.weight,
                                head.norm.bias, eps=1e-6)
        torch.testing.assert_close(head(x), official, atol=1e-6, rtol=1e-5)
