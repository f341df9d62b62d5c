# ActionFormer on ActivityNet-1.3 VideoMAE V2-g features resized once to 128 per video: 256-d, windows
# [7, 7, 7, 7, 7, global], class-agnostic segments fused with an external video classifier (top-2 classes,
# score x class score), Soft-NMS sigma 0.75 + voting 0.9, 100 segments; AdamW 1e-3, batch 16, 5 warmup + 10 cosine
# epochs, grad clip 1.0, EMA 0.999. Metric: mAP at tIoU 0.5:0.05:0.95.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/actionformer.py',
          '../../_base_/schedules/actionformer_adamw_cosine.py',
          '../../_base_/datasets/activitynet13.py']

model = dict(
    in_channels={{_base_.feat_dim}}, num_classes=1, embed_dims=256, head_dims=256,
    window_size=[7, 7, 7, 7, 7, None], label_smoothing=0.1,
    test_cfg=dict(pre_nms_thresh=0.001, pre_nms_topk=2000, duration_thresh=0.1,
                  nms=dict(method='soft', sigma=0.75, min_score=0.001, max_segments=100, multiclass=False,
                           voting_thresh=0.9),
                  external_classifier=dict(path={{_base_.video_classifier}}, topk=2, mode='product')))

optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 15
train_cfg = dict(max_epochs=max_epochs, val_begin=max_epochs - 5)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(checkpoint=dict(interval=5, save_best='tad/average_mAP', rule='greater'),
                     logger=dict(interval=50))
