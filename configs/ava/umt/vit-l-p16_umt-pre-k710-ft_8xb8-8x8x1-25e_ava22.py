# UMT ViT-L/16 (K710 fine-tuned) on AVA v2.2: as the B config with 25 ep, drop path .4, layer decay .8 (39.8 mAP).
_base_ = ['./vit-b-p16_umt-pre-k710-ft_8xb8-8x8x1-30e_ava22.py']

pretrained = 'checkpoints/umt_l16_k710_ft.pth'
model = dict(backbone=dict(arch='umt-large', drop_path_rate=0.4, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
max_epochs = 25
train_cfg = dict(max_epochs=max_epochs)  # warmup 5 as B
