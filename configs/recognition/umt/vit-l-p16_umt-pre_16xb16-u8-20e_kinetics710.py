# UMT ViT-L/16 -> K710 (86.0). Recipe: single_modality/exp/finetuning/k710/l16_ptk710_ftk710_f8_res224.sh (lr 1e-4, 20 ep, warmup 2 as B, dp .2, ld .85, checkpointing).
_base_ = ['./vit-b-p16_umt-pre_16xb16-u8-35e_kinetics710.py']
model = dict(
    backbone=dict(arch='umt-large', drop_path_rate=0.2, with_cp=True, init_cfg=dict(checkpoint='checkpoints/l16_ptk710_f8_umt_pretrain.pth')),
    cls_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(layer_decay_rate=0.85))
max_epochs = 20
train_cfg = dict(max_epochs=max_epochs)
