# AVA v2.2 (mmaction2's AVADataset, rawframes at 30 fps, keyframes 902..1798): 60 evaluated classes, person
# proposals from the FAIR detector. Prepare the data with mmaction2's tools/data/ava (rawframes + annotations).
dataset_type = 'CheckedAVADataset'  # mmaction2 AVADataset + annotation checks (tasks/ava/dataset.py)
data_root = 'data/ava/rawframes'
anno_root = 'data/ava/annotations'
ann_file_train = f'{anno_root}/ava_train_v2.2.csv'
ann_file_val = f'{anno_root}/ava_val_v2.2.csv'
exclude_file_train = f'{anno_root}/ava_train_excluded_timestamps_v2.2.csv'
exclude_file_val = f'{anno_root}/ava_val_excluded_timestamps_v2.2.csv'
label_file = f'{anno_root}/ava_action_list_v2.2_for_activitynet_2019.pbtxt'
proposal_file_train = f'{anno_root}/ava_dense_proposals_train.FAIR.recall_93.9.pkl'
proposal_file_val = f'{anno_root}/ava_dense_proposals_val.FAIR.recall_93.9.pkl'

clip_len = 16
frame_interval = 4
short_side = 224
meta_keys = ('img_shape', 'img_key', 'video_id', 'timestamp', 'crop_quadruple', 'flip')

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='CheckedRawFrameDecode'),
    dict(type='RandomRescale', scale_range=(short_side, short_side * 5 // 4)),
    dict(type='RandomCrop', size=short_side),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval, test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(-1, short_side)),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
test_pipeline = val_pipeline

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, ann_file=ann_file_train, exclude_file=exclude_file_train,
                 label_file=label_file, proposal_file=proposal_file_train, data_prefix=dict(img=data_root),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,  # frames of different aspect ratios
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file=ann_file_val, exclude_file=exclude_file_val, label_file=label_file,
                 proposal_file=proposal_file_val, data_prefix=dict(img=data_root), pipeline=val_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='AVAFrameMAP', ann_file=ann_file_val, exclude_file=exclude_file_val, label_file=label_file)
test_evaluator = val_evaluator
