# Toy temporal action detection on CPU (minutes): a 64-d ActionFormer trained from scratch on the features of the
# toy TAD set (tasks/toy_data/tad.py, generated on first use: videos, ActivityNet JSON, tiny-VideoViT features).
# The THUMOS14 recipe at toy size: AdamW, warmup + cosine, grad clip 1.0, EMA, random truncation, Soft-NMS.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/actionformer.py',
          '../../_base_/schedules/actionformer_adamw_cosine.py',
          '../../_base_/datasets/toy_tad.py']

model = dict(in_channels={{_base_.feat_dim}}, num_classes=4, embed_dims=64, num_heads=4, head_dims=64,
             window_size=9, drop_path=0.0)

optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_begin=1)
warmup_epochs = 2
param_scheduler = [dict(_base_.param_scheduler[0], start_factor=1e-2, end=warmup_epochs),
                   dict(_base_.param_scheduler[1], eta_min=1e-5, begin=warmup_epochs)]
# EMA decay 0.99 (toy runs are ~300 iterations; the full recipes use 0.999)
custom_hooks = [dict(_base_.custom_hooks[0], momentum=0.01)]
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(checkpoint=dict(interval=5, save_best='tad/average_mAP', rule='greater'),
                     logger=dict(interval=5))
