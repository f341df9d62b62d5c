# ActionFormer's schedule (THUMOS14 reference recipe): AdamW (.9, .999) lr 1e-4, wd .05 except norms, biases and
# the per-level regression scales; linear warmup over `warmup_epochs` from 1e-3 x lr, then cosine to 0 at the
# train loop's max_epochs (MMEngine fills in its `end` and `T_max`); grad clip 1.0; an EMA of the weights with
# decay 0.999 (MMEngine's momentum = 1 - decay) that validation, test and checkpoints use. Children set lr, train_cfg.max_epochs / val_begin and auto_scale_lr.base_batch_size (the recipe's
# total batch); another warmup rebuilds the list in one line (see adamw_ld_cosine.py).
max_epochs = 35
warmup_epochs = 5
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=max_epochs - 10, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., custom_keys=dict(scales=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=True, begin=warmup_epochs, convert_to_iter_based=True),
]
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(enable=False, base_batch_size=2)
randomness = dict(seed=0)
