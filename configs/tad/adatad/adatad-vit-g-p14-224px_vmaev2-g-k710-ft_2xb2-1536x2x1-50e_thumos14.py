# AdaTAD's best THUMOS14 setting (OpenTAD e2e_thumos_videomaev2_g_768x2_224_adapter.py; 77.07 avg mAP): 1536 frames
# (every 2nd) at 224 px, adapters after blocks 20-39, 768 tokens = 768 features (no upsampling), 50 epochs.
_base_ = ['./adatad-vit-g-p14-160px_vmaev2-g-k710-ft_2xb2-768x4x1-60e_thumos14.py']

num_frames, frame_interval, img_size = 1536, 2, 224
model = dict(backbone=dict(adapter_indices=list(range(20, 40))), feat_upsample=1)
train_pipeline = [dict(_base_.train_pipeline[0], max_seq_len=num_frames), dict(_base_.train_pipeline[1], size=img_size),
                  dict(_base_.train_pipeline[2])]
test_pipeline = [dict(_base_.test_pipeline[0], size=img_size), dict(_base_.test_pipeline[1])]
train_dataloader = dict(dataset=dict(frame_interval=frame_interval, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(frame_interval=frame_interval, pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 50
train_cfg = dict(max_epochs=max_epochs, val_begin=37)
