# UMT stage-1 data: Kinetics-710 video lists (labels ignored). TSN sparse sampling of 8 segments (one random
# frame per segment), MultiScaleCrop (1, .875, .75, .66) + horizontal flip, 224 px.
dataset_type = 'VideoListDataset'  # mmaction2 VideoDataset + the bad input policy
data_root = 'data/k710/videos'
ann_file_train = 'data/k710/k710_train_list.txt'
clip_len = 8
img_size = 224

train_pipeline = [
    dict(type='DecordInit', num_threads=4),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='MultiScaleCrop', input_size=img_size, scales=(1, .875, .75, .66), random_crop=False,
         max_wh_scale_gap=1, num_fixed_crops=13),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, ann_file=ann_file_train, data_prefix=dict(video=data_root),
                 pipeline=train_pipeline))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
