# End-to-end toy TAD on CPU (minutes): the tiny random VideoViT that made the toy features (data/toy_tad/backbone.pth)
# frozen, temporal adapters after its 2 blocks, trained with the 64-d ActionFormer of the frozen-feature toy config
# (actionformer-tiny_scratch_1xb4-16x4x1-30e_toy-tad.py, same schedule) on decoded windows of the toy videos.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/adatad.py',
          '../../_base_/schedules/actionformer_adamw_cosine.py', '../../_base_/datasets/toy_tad_frames.py']

model = dict(backbone=dict(arch=None, img_size=32, patch_size=8, tubelet_size=2, embed_dim=64, depth=2, num_heads=4,
                           drop_path_rate=0.0),
             frozen_checkpoint=f'{_base_.data_root}/backbone.pth', feat_upsample=1, dtype='fp32',
             mean=(127.5, 127.5, 127.5), std=(64., 64., 64.),
             detector=dict(num_classes=4, embed_dims=64, num_heads=4, head_dims=64, window_size=9, drop_path=0.0,
                           test_cfg=dict(nms=dict(sigma=0.5, max_segments=200, voting_thresh=0.))))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_begin=1)
warmup_epochs = 2
param_scheduler = [dict(_base_.param_scheduler[0], start_factor=1e-2, end=warmup_epochs),
                   dict(_base_.param_scheduler[1], eta_min=1e-5, begin=warmup_epochs)]
custom_hooks = [dict(type='EMAHook', ema_type='TrainableEMA', momentum=0.01, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(checkpoint=dict(interval=5, save_best='tad/average_mAP', rule='greater'),
                     logger=dict(interval=5))
