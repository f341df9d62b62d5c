# ViT-S/16 on k710. ASSUMED: no ViT-S recipe in the reference (released S is distilled); ViT-B's recipe.
_base_ = ['./vit-b-p16_vmaev2-pre_8xb8-16x4x1-90e_kinetics710.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.1, init_cfg=dict(checkpoint='checkpoints/vit_s_vmaev2_pretrain.pth')),
    cls_head=dict(in_channels=384))
optim_wrapper = dict(optimizer=dict(lr=7e-4, weight_decay=0.05), paramwise_cfg=dict(layer_decay_rate=0.75))
