# ViT-g/14 on K400 (87.2 top-1 at 16x5x3). Recipe: videomaev2.md 'g K400 1e-3 ld .9 dp .2 30ep wd .1'.
_base_ = ['./vit-b-p16_vmaev2-pre_8xb8-16x4x1-90e_kinetics400.py']
model = dict(
    backbone=dict(arch='giant', drop_path_rate=0.2, init_cfg=dict(checkpoint='checkpoints/vit_g_vmaev2_pretrain.pth'), with_cp=True),
    cls_head=dict(in_channels=1408))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.1), paramwise_cfg=dict(layer_decay_rate=0.9))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
