# VideoMAE V2 ViT-B pretraining with dual masking (tube .9 encoder mask, running cell .5 decoder mask).
# Official: 32 videos x 4 repeats per GPU x 32 GPUs, AdamW (.9, .95) wd .05, base lr 1e-3 per 256 clips, cosine,
# 200 epochs x 4 repeats ("800e"), fp16 (--amp).
_base_ = ['../../_base_/default_runtime.py', '../../_base_/datasets/pretrain_hybrid.py']

arch = 'base'
model = dict(
    type='VideoMAEv2Pretrainer',
    encoder=dict(arch=arch, img_size={{_base_.img_size}}, num_frames={{_base_.clip_len}}, drop_path_rate=0.),
    decoder_depth=4,  # width / heads from the official table by arch (B: 384 / 6)
    encoder_mask=dict(kind='tube', ratio=0.9),
    decoder_mask=dict(kind='running_cell', ratio=0.5),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))

max_epochs = 200
warmup_epochs = 30  # not in the reference notes: VideoMAE's usual setting, check against the official script
base_lr = 1e-3
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., custom_keys={'mask_token': dict(decay_mult=0.)}),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=20, save_best=None, max_keep_ckpts=3))
# lr = base_lr * (GPUs * batch_size * num_repeats) / 256; MMEngine counts videos (batch_size), not clips
auto_scale_lr = dict(enable=True, base_batch_size=64)  # 256 clips / num_repeats 4
