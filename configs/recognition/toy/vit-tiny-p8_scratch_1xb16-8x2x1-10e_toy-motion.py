# The built-in main job: a tiny VideoViT learns motion direction from scratch on toy data (CPU, minutes).
_base_ = ['../../_base_/default_runtime.py', '../../_base_/datasets/toy_motion.py']

model = dict(
    type='Recognizer3D',
    backbone=dict(type='VideoViT', img_size={{_base_.img_size}}, num_frames={{_base_.clip_len}}, patch_size=8,
                  tubelet_size=2, embed_dim=96, depth=4, num_heads=4, drop_path_rate=0.1),
    cls_head=dict(type='VideoClsHead', num_classes={{_base_.num_classes}}, in_channels=96, dropout=0.1, init_scale=1.0,
                  label_smooth_eps=0.1),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3,
                           format_shape='NCTHW'))

max_epochs = 10
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=2, save_best='acc/top1', rule='greater'),
                     visualization=dict(height=128))  # drawings of the 32-px clips
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
