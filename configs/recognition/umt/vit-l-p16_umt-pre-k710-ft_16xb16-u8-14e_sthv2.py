# UMT ViT-L/16 K710-finetuned -> SSv2 (74.7). Recipe: single_modality/exp/finetuning/ssv2/l16_ptk710_ftk710_ftssv2_f16_res224.sh (lr 4e-4, 14 ep, warmup 4, dp .2, ld .85; the script is named f16 but sets --num_frames 8).
_base_ = ['./vit-b-p16_umt-pre_16xb16-u8-30e_sthv2.py']
model = dict(
    backbone=dict(arch='umt-large', drop_path_rate=0.2, with_cp=True, init_cfg=dict(checkpoint='checkpoints/l16_ptk710_ftk710_f8.pth')),
    cls_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=4e-4), paramwise_cfg=dict(layer_decay_rate=0.85))
max_epochs, warmup_epochs = 14, 4
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(_base_.param_scheduler[0], end=warmup_epochs),
                   dict(_base_.param_scheduler[1], begin=warmup_epochs)]
