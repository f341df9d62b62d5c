# ActionFormer on THUMOS14 VideoMAE V2-g features (16-frame clips every 4 frames, 1408-d), the reference recipe:
# AdamW 1e-4, wd 0.05, batch 2, 5 warmup + 30 cosine epochs, grad clip 1.0, EMA 0.999, random truncation to 2304.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/actionformer.py',
          '../../_base_/schedules/actionformer_adamw_cosine.py',
          '../../_base_/datasets/thumos14.py']

model = dict(in_channels={{_base_.feat_dim}}, num_classes=20, embed_dims=512, head_dims=512, window_size=19)
default_hooks = dict(checkpoint=dict(interval=5, save_best='tad/average_mAP', rule='greater'),
                     logger=dict(interval=50))
