# ViT-g/14 on SSv2 (77.0). Recipe: videomaev2.md 'g SSv2 3e-4 ld .9 dp .25' (wd .1 as g K400); 30 epochs ASSUMED.
_base_ = ['./vit-b-p16_vmaev2-pre_8xb8-u16-40e_sthv2.py']
model = dict(
    backbone=dict(arch='giant', drop_path_rate=0.25, init_cfg=dict(checkpoint='checkpoints/vit_g_vmaev2_pretrain.pth'), with_cp=True),
    cls_head=dict(in_channels=1408))
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.1), paramwise_cfg=dict(layer_decay_rate=0.9))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
