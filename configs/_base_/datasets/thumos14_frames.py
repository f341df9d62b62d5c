# THUMOS14 videos for end-to-end TAD (tasks/tad/frames.py THUMOS14VideoDataset): ActivityNet-format JSON, one video
# per entry under video_root. Training: a random window of `num_frames` frames sampled every `frame_interval`
# frames that keeps >= 75% of a segment (90-100% crops of shorter videos), flipped half the time; testing: the whole
# video. Children set num_frames, frame_interval and img_size (768 x 4 at 160 px, 1536 x 2 at 224 px).
dataset_type = 'THUMOS14VideoDataset'
data_root = 'data/thumos14'
ann_file = f'{data_root}/annotations/thumos14.json'
video_root = f'{data_root}/videos'
num_frames = 768
frame_interval = 4
img_size = 160

train_pipeline = [
    dict(type='RandomTruncateFeatures', max_seq_len=num_frames, trunc_thresh=0.75, crop_ratio=(0.9, 1.0)),
    dict(type='DecodeTADFrames', size=img_size, flip_ratio=0.5, num_threads=4),
    dict(type='PackTADFrames'),
]
test_pipeline = [dict(type='DecodeTADFrames', size=img_size, num_threads=4), dict(type='PackTADFrames')]
common = dict(type=dataset_type, ann_file=ann_file, video_root=video_root, frame_interval=frame_interval,
              train_subset='validation')

train_dataloader = dict(batch_size=2, num_workers=4, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(**common, subset='validation', pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(**common, subset='test', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='TADmAP', ann_file=ann_file, subset='test', tiou_thresholds='thumos14')
test_evaluator = val_evaluator
