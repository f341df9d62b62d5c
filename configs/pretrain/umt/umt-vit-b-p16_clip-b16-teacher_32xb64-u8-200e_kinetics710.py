# UMT stage 1, ViT-B/16 student (8 frames, tubelet 1) distilled from a frozen CLIP ViT-B/16 on Kinetics-710.
# Official: 2048 clips (64 x 32 GPUs), AdamW (.9, .95) wd .05, lr 1.5e-4 per 256 (1.2e-3 at 2048), min 8e-5,
# 40 warmup epochs, 200 epochs, semantic mask .8, fp16 (--amp).
_base_ = ['../../_base_/default_runtime.py', '../../_base_/datasets/k710_pretrain_umt.py']

clip_checkpoint = 'checkpoints/clip/ViT-B-16.pt'  # local OpenAI CLIP (TorchScript or state dict) / open_clip / timm
model = dict(
    type='UMTPretrainer',
    encoder=dict(arch='umt-base', img_size={{_base_.img_size}}, num_frames={{_base_.clip_len}}, drop_path_rate=0.1),
    teacher=dict(type='CLIPTeacher', arch='vit_base_patch16_clip_224', img_size=224, proj_dim=512,
                 checkpoint=clip_checkpoint),
    mask_type='semantic',
    mask_ratio=0.8,
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))

max_epochs = 200
warmup_epochs = 40
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=8e-5, by_epoch=True,
         begin=warmup_epochs, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=20, save_best=None, max_keep_ckpts=3))
auto_scale_lr = dict(enable=True, base_batch_size=256)
