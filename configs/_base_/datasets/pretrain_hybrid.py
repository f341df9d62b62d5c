# VideoMAE V2 pretraining data (official: UnlabeledHybrid, ~1.35M clips; any mmaction2 video list works, labels
# are ignored). Dense sampling 16 frames x stride 4, MultiScaleCrop (1, .875, .75, .66; the official 13 fixed
# crops), no flip; repeated augmentation: each video is decoded once into `num_repeats` clips (num_sample=4).
# Masks are drawn on the device by the model (tube .9 encoder / running cell .5 decoder).
dataset_type = 'RepeatAugVideoListDataset'  # decode once, augment num_repeats times; bad input policy
data_root = 'data/pretrain_hybrid/videos'
ann_file_train = 'data/pretrain_hybrid/train_list.txt'
clip_len = 16
frame_interval = 4
img_size = 224
num_repeats = 4

train_pipeline = [
    dict(type='DecordInit', num_threads=4),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='MultiScaleCrop', input_size=img_size, scales=(1, .875, .75, .66), random_crop=False,
         max_wh_scale_gap=1, num_fixed_crops=13),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=32,  # videos per GPU; clips per GPU = batch_size * num_repeats
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='repeat_pseudo_collate'),
    dataset=dict(type=dataset_type, ann_file=ann_file_train, data_prefix=dict(video=data_root),
                 pipeline=train_pipeline, num_repeats=num_repeats, sample_once=True))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
