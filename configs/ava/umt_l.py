# UMT ViT-L/16 (K710 fine-tuned) on AVA v2.2: as umt_b with 25 ep, drop path .4, layer decay .8 (39.8 mAP).
_base_ = ['./umt_b.py']

pretrained = 'checkpoints/umt_l16_k710_ft.pth'
model = dict(backbone=dict(arch='umt-large', drop_path_rate=0.4, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
max_epochs = 25
warmup_epochs = 5
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0, by_epoch=True, begin=warmup_epochs, convert_to_iter_based=True),
]
