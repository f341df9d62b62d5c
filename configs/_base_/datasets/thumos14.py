# THUMOS14 on precomputed features (tasks/tad/dataset.py THUMOS14Dataset): ActivityNet-format JSON (subsets
# 'validation' = train, 'test'), one {video}.npy (T, C) per video and the features.json grid that
# tools/extract_features.py writes (VideoMAE V2-g: 16-frame clips every 4 frames, seconds = (4 * i + 8) / fps).
dataset_type = 'THUMOS14Dataset'
data_root = 'data/thumos14'
ann_file = f'{data_root}/annotations/thumos14.json'
feat_root = f'{data_root}/features/vmaev2-g'
feat_dim = 1408
grid = None  # from features.json; or dict(fps=30, stride=4, clip_len=16, offset=8)
max_seq_len = 2304

train_pipeline = [
    dict(type='RandomTruncateFeatures', max_seq_len=max_seq_len, trunc_thresh=0.5, crop_ratio=(0.9, 1.0)),
    dict(type='PackTADInputs'),
]
test_pipeline = [dict(type='PackTADInputs')]
val_pipeline = test_pipeline
common = dict(type=dataset_type, ann_file=ann_file, feat_root=feat_root, feat_dim=feat_dim, grid=grid,
              train_subset='validation')

train_dataloader = dict(batch_size=2, num_workers=4, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(**common, subset='validation', pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(**common, subset='test', pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='TADmAP', ann_file=ann_file, subset='test', tiou_thresholds='thumos14')
test_evaluator = val_evaluator
