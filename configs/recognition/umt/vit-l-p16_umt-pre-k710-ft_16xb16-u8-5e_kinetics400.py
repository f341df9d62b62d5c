# UMT ViT-L/16 K710-finetuned -> K400 (90.3 at 8 frames). Recipe: single_modality/exp/finetuning/k400/l16_ptk710_ftk710_ftk400_f8_res224.sh (lr 1e-5, 5 ep, warmup 1 as B, dp .2, ld .85).
_base_ = ['./vit-b-p16_umt-pre-k710-ft_16xb16-u8-5e_kinetics400.py']
model = dict(
    backbone=dict(arch='umt-large', drop_path_rate=0.2, with_cp=True, init_cfg=dict(checkpoint='checkpoints/l16_ptk710_ftk710_f8.pth')),
    cls_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=1e-5), paramwise_cfg=dict(layer_decay_rate=0.85))
