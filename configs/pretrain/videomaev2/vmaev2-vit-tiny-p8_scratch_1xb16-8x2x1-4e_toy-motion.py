# Toy VideoMAE V2 pretraining on the toy motion videos (CPU, minutes): the pixel loss falls steadily.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/datasets/pretrain_toy_motion.py']

model = dict(
    type='VideoMAEv2Pretrainer',
    encoder=dict(img_size={{_base_.img_size}}, num_frames={{_base_.clip_len}}, patch_size=8, tubelet_size=2,
                 embed_dim=96, depth=4, num_heads=4),
    decoder_dim=64, decoder_heads=4, decoder_depth=2,
    encoder_mask=dict(kind='tube', ratio=0.75),  # 4x4 tokens per frame: 4 visible
    decoder_mask=dict(kind='running_cell', ratio=0.5),
    # The toy clips carry fresh Gaussian noise in every frame, so per-patch normalised targets of the flat
    # background are pure noise and that loss stalls near 0.98; raw [0, 1] pixel targets fall steadily.
    norm_pix_loss=False,
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))

max_epochs = 4
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=5, save_best=None), logger=dict(interval=10))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
