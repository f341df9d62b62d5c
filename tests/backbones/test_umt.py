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
    student, target, vis = model.forward_train(x)
    torch.testing.assert_close(loss, align_loss(student, target))
    # direct: teacher on all tokens with ln_post + proj, then select; student heads per layer
    vit = model.teacher.vit
    frames = x.transpose(1, 2).reshape(4, 3, 32, 32)
    tok = vit.norm_pre(vit._pos_embed(vit.patch_embed(frames)))
    outs = []
    for blk in vit.blocks:
        tok = blk(tok)
        outs.append(tok[:, 1:].reshape(2, 32, -1))
    tgt = [F.normalize(vit.head(vit.norm(o)), dim=-1) for o in outs[-3:]]
    _, inter = model.encoder.forward_features(x, vis, return_intermediates=True)
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
    student, target, vis = model.forward_train(x)
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
