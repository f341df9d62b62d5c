# Toy recognition data: shapes moving in one of 4 class-specific directions (tools/data/make_toy.py).
# Written in mmaction2's video list format and generated on first use when missing.
dataset_type = 'ToyVideoDataset'
data_root = 'data/toy_motion'
toy = dict(root=data_root, num_train=1000, num_val=200, num_classes=4, num_frames=16, size=64, seed=0)
num_classes = 4
clip_len = 8
img_size = 32

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=2, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=2, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = val_pipeline
# The same on extracted frames (recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion-rawframes.py):
# CheckedRawFrameDecode reads the JPEG files.
rawframe_train_pipeline = [dict(type='CheckedRawFrameDecode') if t['type'] == 'DecordDecode' else t
                           for t in train_pipeline if t['type'] != 'DecordInit']
rawframe_val_pipeline = [dict(type='CheckedRawFrameDecode') if t['type'] == 'DecordDecode' else t
                         for t in val_pipeline if t['type'] != 'DecordInit']

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, toy=toy, ann_file=f'{data_root}/train_list.txt',
                 data_prefix=dict(video=data_root), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, toy=toy, ann_file=f'{data_root}/val_list.txt',
                 data_prefix=dict(video=data_root), pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy', 'mean_class_accuracy'))
test_evaluator = val_evaluator
