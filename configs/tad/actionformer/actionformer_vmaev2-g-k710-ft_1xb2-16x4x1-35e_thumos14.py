# ActionFormer on THUMOS14 VideoMAE V2-g features (16-frame clips every 4 frames, 1408-d), the reference recipe:
# AdamW 1e-4, wd 0.05, batch 2, 5 warmup + 30 cosine epochs, grad clip 1.0, EMA 0.999, random truncation to 2304.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/actionformer.py',
          '../../_base_/datasets/thumos14.py']

model = dict(in_channels={{_base_.feat_dim}}, num_classes=20, embed_dims=512, head_dims=512, window_size=19)

warmup_epochs, max_epochs = 5, 35
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=max_epochs - 10, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., custom_keys=dict(scales=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=0., by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
# EMA of the weights, decay 0.999 (MMEngine momentum = 1 - decay); validation, test and checkpoints use it
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001, priority='ABOVE_NORMAL')]
default_hooks = dict(checkpoint=dict(interval=5, save_best='tad/average_mAP', rule='greater'),
                     logger=dict(interval=50))
auto_scale_lr = dict(enable=False, base_batch_size=2)
randomness = dict(seed=0)
