# UMT ViT-B/16 (K710 fine-tuned) on AVA v2.2: 8 frames sparsely sampled (stride 8 = 64 frames, ~2.1 s), RoIAlign 7x7
# on time-averaged features + max pool (UMT's AlphAction-based head). UMT: lr 2.5e-4, 30 ep, drop path .2 (33.5 mAP).
_base_ = ['../videomaev2/vit-b-p16_vmaev2-g-dist-k710_8xb8-16x4x1-20e_ava22.py']

pretrained = 'checkpoints/umt_b16_k710_ft.pth'
clip_len = 8
frame_interval = 8
meta_keys = {{_base_.meta_keys}}
model = dict(
    backbone=dict(arch='umt-base', pos_embed='learnable', drop_path_rate=0.2,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    roi_size=7,
    data_preprocessor=dict(mean=[114.75] * 3, std=[57.375] * 3))
# `_base_.x` (not `{{_base_.x}}`, a placeholder string until the config is merged) so that [1:] slices the list
train_pipeline = [dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval),
                  *_base_.train_pipeline[1:]]
val_pipeline = [dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval, test_mode=True),
                *_base_.val_pipeline[1:]]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)  # 5 warmup epochs + cosine to 0, as the VideoMAE V2 AVA base
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
