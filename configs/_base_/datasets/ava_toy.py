# Toy AVA (tasks/ava/toy.py; tools/data/make_toy.py ava): the real AVA file formats, 5 classes with their AVA ids
# (7 jump, 12 stand, 14 walk, 17 carry, 69 hand wave), 96x128 rawframes at 30 fps; generated on first use.
dataset_type = 'ToyAVADataset'
data_root = 'data/toy_ava'
toy = dict(root=data_root, num_train=12, num_val=4, seconds=12, height=96, width=128, seed=0)
timestamp_end = 900 + 12
anno_root = f'{data_root}/annotations'
label_file = f'{anno_root}/action_list.pbtxt'
clip_len = 8
frame_interval = 2
short_side = 64
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


def _split(split, pipeline, **kw):
    return dict(type=dataset_type, toy=toy, ann_file=f'{anno_root}/{split}.csv',
                exclude_file=f'{anno_root}/{split}_excluded_timestamps.csv', label_file=label_file,
                proposal_file=f'{anno_root}/{split}_proposals.pkl', data_prefix=dict(img=f'{data_root}/rawframes'),
                timestamp_end=timestamp_end, pipeline=pipeline, **kw)


train_dataloader = dict(batch_size=8, num_workers=1, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True), dataset=_split('train', train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=1, persistent_workers=True,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=_split('val', val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='AVAFrameMAP', ann_file=f'{anno_root}/val.csv',
                     exclude_file=f'{anno_root}/val_excluded_timestamps.csv', label_file=label_file)
test_evaluator = val_evaluator
