# ActivityNet-1.3 on precomputed features (tasks/tad/dataset.py ActivityNet13Dataset): ActivityNet JSON (subsets
# 'training', 'validation'), one {video}.npy (T, C) per video + features.json; every video's features are resized
# ONCE to resize_length by linear interpolation (cached in resize_cache_dir) and the grid's stride becomes
# stride * T / resize_length. Class-agnostic training; at test time the segments take the classes of an external
# video-level classifier (the CUHK file), ActionFormer's / OpenTAD's protocol.
dataset_type = 'ActivityNet13Dataset'
data_root = 'data/activitynet'
ann_file = f'{data_root}/annotations/activity_net.v1-3.min.json'
feat_root = f'{data_root}/features/vmaev2-g'
video_classifier = f'{data_root}/annotations/cuhk_val_simp_share.json'
feat_dim = 1408
grid = None  # from features.json (per-video fps from the annotation JSON when it has "fps")
resize_length = 128
resize_cache_dir = f'{data_root}/features/vmaev2-g_resized{resize_length}'

train_pipeline = [
    dict(type='RandomTruncateFeatures', max_seq_len=resize_length, trunc_thresh=0.5, crop_ratio=(0.9, 1.0)),
    dict(type='PackTADInputs'),
]
test_pipeline = [dict(type='PackTADInputs')]
val_pipeline = test_pipeline
common = dict(type=dataset_type, ann_file=ann_file, feat_root=feat_root, feat_dim=feat_dim, grid=grid,
              resize_length=resize_length, resize_cache_dir=resize_cache_dir, class_agnostic=True)

train_dataloader = dict(batch_size=16, num_workers=4, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(**common, subset='training', pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=4, persistent_workers=True,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(**common, subset='validation', pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='TADmAP', ann_file=ann_file, subset='validation', tiou_thresholds='activitynet')
test_evaluator = val_evaluator
