# Toy TAD (tasks/toy_data/tad.py; tools/data/make_toy.py tad): 20-40 s videos at 10 fps with 2-4 events of 4
# classes, ActivityNet JSON ('training' / 'validation'), features of a tiny random VideoViT (64-d, 16-frame clips
# every 4 frames, features/features.json: seconds = (4 * i + 8) / 10). Generated on first use (~20 s).
dataset_type = 'ToyTADDataset'
data_root = 'data/toy_tad'
toy = dict(root=data_root, num_train=40, num_val=16, min_seconds=20, max_seconds=40, fps=10, size=32, seed=0)
ann_file = f'{data_root}/annotations.json'
feat_root = f'{data_root}/features'  # or the output folder of tools/extract_features.py on {data_root}/videos
feat_dim = 64
max_seq_len = 128

train_pipeline = [
    dict(type='RandomTruncateFeatures', max_seq_len=max_seq_len, trunc_thresh=0.5, crop_ratio=(0.9, 1.0)),
    dict(type='PackTADInputs'),
]
test_pipeline = [dict(type='PackTADInputs')]
val_pipeline = test_pipeline
common = dict(type=dataset_type, toy=toy, ann_file=ann_file, feat_root=feat_root, feat_dim=feat_dim,
              train_subset='training')

train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(**common, subset='training', pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(**common, subset='validation', pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='TADmAP', ann_file=ann_file, subset='validation', tiou_thresholds='thumos14')
test_evaluator = val_evaluator
