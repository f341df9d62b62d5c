# The toy TAD videos (tasks/toy_data/tad.py, generated on first use) for end-to-end TAD: 20-40 s at 10 fps, 32 px;
# frames sampled every 2 (a token every 4 frames, the toy features' stride); training windows of up to 208 sampled
# frames (whole videos, 90-100% crops); testing: whole videos.
dataset_type = 'ToyTADVideoDataset'
data_root = 'data/toy_tad'
toy = dict(root=data_root, num_train=40, num_val=16, min_seconds=20, max_seconds=40, fps=10, size=32, seed=0)
ann_file = f'{data_root}/annotations.json'
num_frames = 208
frame_interval = 2
img_size = 32
# the toy classes (tasks/toy_data/tad.py) sorted, as the feature toy config derives them from its training videos
classes = ('disc_moves_right', 'disc_moves_up', 'square_appears', 'square_flashes')

train_pipeline = [
    dict(type='RandomTruncateFeatures', max_seq_len=num_frames, trunc_thresh=0.5, crop_ratio=(0.9, 1.0)),
    dict(type='DecodeTADFrames', size=img_size),
    dict(type='PackTADFrames'),
]
test_pipeline = [dict(type='DecodeTADFrames', size=img_size), dict(type='PackTADFrames')]
common = dict(type=dataset_type, toy=toy, frame_interval=frame_interval, classes=classes)

train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(**common, subset='training', pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(**common, subset='validation', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='TADmAP', ann_file=ann_file, subset='validation', tiou_thresholds='thumos14')
test_evaluator = val_evaluator
