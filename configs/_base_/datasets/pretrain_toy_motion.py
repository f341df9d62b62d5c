# Toy pretraining data: the toy motion videos (tools/data/make_toy.py, generated on first use), labels unused.
# Each video is decoded once and yields `num_repeats` augmented clips (repeated augmentation).
dataset_type = 'ToyRepeatAugDataset'
data_root = 'data/toy_motion'
toy = dict(root=data_root, num_train=1000, num_val=200, num_classes=4, num_frames=16, size=64, seed=0)
clip_len = 8
img_size = 32
num_repeats = 2

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=2, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='MultiScaleCrop', input_size=img_size, scales=(1, .875, .75, .66), random_crop=False,
         max_wh_scale_gap=1, num_fixed_crops=13),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='repeat_pseudo_collate'),
    dataset=dict(type=dataset_type, toy=toy, ann_file=f'{data_root}/train_list.txt',
                 data_prefix=dict(video=data_root), pipeline=train_pipeline, num_repeats=num_repeats,
                 sample_once=True))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
