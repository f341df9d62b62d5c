# ViT-H/16 on SSv2. ASSUMED: H's K400 lr/ld/dp with B's SSv2 epochs.
_base_ = ['./vit-b-p16_vmaev2-pre_8xb8-u16-40e_sthv2.py']
model = dict(
    backbone=dict(arch='huge', drop_path_rate=0.2, init_cfg=dict(checkpoint='checkpoints/vit_h_vmaev2_pretrain.pth'), with_cp=True),
    cls_head=dict(in_channels=1280))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05), paramwise_cfg=dict(layer_decay_rate=0.8))
