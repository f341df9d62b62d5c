# AdaTAD on THUMOS14, the reference recipe (OpenTAD configs/adatad/thumos/e2e_thumos_videomaev2_g_768x1_160_adapter.py):
# VideoMAE V2-g (K710 fine-tuned) frozen, a temporal adapter after each of the 40 blocks, 768 frames (every 4th) at
# 160 px per window in 48 chunks of 16, tokens upsampled x2 to 768 features; ActionFormer with global attention.
# AdamW lr 1e-4 (adapters 1e-4 for g), wd 0.05, batch 2 x 2 GPUs, 5 warmup epochs then a cosine over 100 epochs
# stopped at 60, grad clip 1.0, EMA 0.999 of the trainable weights only; Soft-NMS sigma 0.7, voting 0.7.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/adatad.py',
          '../../_base_/schedules/actionformer_adamw_cosine.py', '../../_base_/datasets/thumos14_frames.py']

model = dict(backbone=dict(arch='giant'),
             frozen_checkpoint='checkpoints/vit_g_hybrid_pt_1200e_k710_ft.pth',
             detector=dict(num_classes=20))
adapter_lr_mult = 1.0  # adapters: 1e-4 for ViT-g, 2e-4 for the smaller encoders
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(scales=dict(decay_mult=0.),
                                                         adapters=dict(lr_mult=adapter_lr_mult))))
max_epochs = 60
train_cfg = dict(max_epochs=max_epochs, val_begin=40, val_interval=2)
param_scheduler = [dict(_base_.param_scheduler[0]), dict(_base_.param_scheduler[1], end=100)]
custom_hooks = [dict(type='EMAHook', ema_type='TrainableEMA', momentum=0.001, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(checkpoint=dict(interval=2, save_best='tad/average_mAP', rule='greater'),
                     logger=dict(interval=50))
