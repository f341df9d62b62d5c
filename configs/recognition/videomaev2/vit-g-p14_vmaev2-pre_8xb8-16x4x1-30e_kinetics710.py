# ViT-g/14 on K710 (83.8). Recipe: g K400 recipe + videomaev2.md 'g K710 dp .3 clip_grad 5'; 30 epochs ASSUMED.
_base_ = ['./vit-b-p16_vmaev2-pre_8xb8-16x4x1-90e_kinetics710.py']
model = dict(
    backbone=dict(arch='giant', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/vit_g_vmaev2_pretrain.pth'), with_cp=True),
    cls_head=dict(in_channels=1408))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.1), paramwise_cfg=dict(layer_decay_rate=0.9),
                     clip_grad=dict(max_norm=5.0))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
