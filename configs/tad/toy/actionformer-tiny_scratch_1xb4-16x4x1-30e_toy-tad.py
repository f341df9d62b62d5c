# Toy temporal action detection on CPU (minutes): a 64-d ActionFormer trained from scratch on the features of the
# toy TAD set (tasks/toy_data/tad.py, generated on first use: videos, ActivityNet JSON, tiny-VideoViT features).
# The THUMOS14 recipe at toy size: AdamW, warmup + cosine, grad clip 1.0, EMA, random truncation, Soft-NMS.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/actionformer.py',
          '../../_base_/datasets/toy_tad.py']

model = dict(in_channels={{_base_.feat_dim}}, num_classes=4, embed_dims=64, num_heads=4, head_dims=64,
             window_size=9, drop_path=0.0)

warmup_epochs, max_epochs = 2, 30
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., custom_keys=dict(scales=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
# EMA decay 0.99 (toy runs are ~300 iterations; the full recipes use 0.999)
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01, priority='ABOVE_NORMAL')]
default_hooks = dict(checkpoint=dict(interval=5, save_best='tad/average_mAP', rule='greater'),
                     logger=dict(interval=5))
auto_scale_lr = dict(enable=False, base_batch_size=4)
randomness = dict(seed=0)
