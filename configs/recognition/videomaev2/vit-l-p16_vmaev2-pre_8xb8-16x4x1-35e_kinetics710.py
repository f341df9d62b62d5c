# ViT-L/16 on K710. ASSUMED: L's K400 recipe (no L K710 recipe in the reference).
_base_ = ['./vit-b-p16_vmaev2-pre_8xb8-16x4x1-90e_kinetics710.py']
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2, init_cfg=dict(checkpoint='checkpoints/vit_l_vmaev2_pretrain.pth'), with_cp=True),
    cls_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.05), paramwise_cfg=dict(layer_decay_rate=0.75))
max_epochs = 35
train_cfg = dict(max_epochs=max_epochs)
