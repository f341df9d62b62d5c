# AdaTAD with a ViT-L encoder (VideoMAE-L K400 fine-tuned, OpenTAD's e2e_thumos_videomae_l_768x1_160_adapter.py),
# the 768 x 160 recipe; adapters at lr 2e-4.
_base_ = ['./adatad-vit-g-p14-160px_vmaev2-g-k710-ft_2xb2-768x4x1-60e_thumos14.py']

model = dict(backbone=dict(arch='large'), frozen_checkpoint='checkpoints/vit_l_k400_ft.pth')
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(adapters=dict(lr_mult=2.0))))
