# VideoMAE V2 ViT-B/16 (K710 fine-tuned, distilled from ViT-g) on AVA v2.2: 16x4 frames, 224 short side.
# Recipe: mmaction2's videomae AVA detection (AdamW 1.25e-4, wd .05, layer decay .75, clip 40, 20 ep = 5 warmup +
# cosine, 8 clips x 8 GPUs); the detector is VideoFM's AVADetector (torchvision RoIAlign, no mmdet / mmcv ops).
_base_ = ['../../_base_/default_runtime.py', '../../_base_/datasets/ava_v2.2.py']

pretrained = 'checkpoints/vit_b_k710_dl_from_giant.pth'
model = dict(
    type='AVADetector',
    backbone=dict(type='VideoViT', arch='base', out_type='featmap', drop_path_rate=0.2, with_cp=True,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    num_classes=81, roi_size=8, spatial_pool='max', dropout=0.5, pos_iou_thr=0.9, max_rois=32, action_thr=0.002,
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))

max_epochs = 20
warmup_epochs = 5
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1.25e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0, by_epoch=True, begin=warmup_epochs, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=1, save_best='ava/mAP', rule='greater', max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=64)
