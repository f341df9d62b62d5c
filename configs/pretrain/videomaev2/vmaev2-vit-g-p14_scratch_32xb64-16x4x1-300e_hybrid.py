# ViT-g: patch 14 (8x16x16 = 2048 tokens), 64 videos x 4 repeats x 32 GPUs, base lr 6e-4, 300 epochs,
# clip_grad .02, activation checkpointing.
_base_ = ['./vmaev2-vit-b-p16_scratch_32xb32-16x4x1-200e_hybrid.py']
model = dict(encoder=dict(arch='giant', with_cp=True), decoder_with_cp=True)
max_epochs = 300
train_cfg = dict(max_epochs=max_epochs)
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(optimizer=dict(lr=6e-4), clip_grad=dict(_delete_=True, max_norm=0.02))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=30, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 30, eta_min=1e-5, by_epoch=True, begin=30, end=max_epochs,
         convert_to_iter_based=True),
]
