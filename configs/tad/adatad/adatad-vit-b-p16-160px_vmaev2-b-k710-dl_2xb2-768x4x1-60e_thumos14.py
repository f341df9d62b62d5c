# AdaTAD with a ViT-B encoder (VideoMAE V2-B distilled from g on K710), the 768 x 160 recipe; adapters at lr 2e-4.
_base_ = ['./adatad-vit-g-p14-160px_vmaev2-g-k710-ft_2xb2-768x4x1-60e_thumos14.py']

model = dict(backbone=dict(arch='base'), frozen_checkpoint='checkpoints/vit_b_k710_dl_from_giant.pth')
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(adapters=dict(lr_mult=2.0))))
