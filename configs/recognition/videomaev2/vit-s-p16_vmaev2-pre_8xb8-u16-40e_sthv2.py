# ViT-S/16 on SSv2. ASSUMED: ViT-B's SSv2 recipe.
_base_ = ['./vit-b-p16_vmaev2-pre_8xb8-u16-40e_sthv2.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.1, init_cfg=dict(checkpoint='checkpoints/vit_s_vmaev2_pretrain.pth')),
    cls_head=dict(in_channels=384))
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.05), paramwise_cfg=dict(layer_decay_rate=0.65))
