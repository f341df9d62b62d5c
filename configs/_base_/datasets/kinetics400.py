# Kinetics-400 in mmaction2's video list format: one "relative/path.mp4 label" per line. The VideoFM list
# datasets check every row (label < num_classes, file exists) at build time and skip unreadable videos in
# training (see tasks/datasets/policy.py).
# The same data as extracted JPEG frames ("frame_dir total_frames label" lists): kinetics400_rawframes.py.
_base_ = ['./kinetics_pipelines.py']
num_classes = 400
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = ann_file_val

# num_sample 2 of the official recipe: each video is decoded once and augmented twice (sample_once=True),
# both copies go into the batch (repeat_pseudo_collate).
train_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='repeat_pseudo_collate'),
    dataset=dict(type='RepeatAugVideoListDataset', num_repeats=2, sample_once=True, ann_file=ann_file_train,
                 num_classes=num_classes,
                 data_prefix=dict(video=data_root), pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoListDataset', ann_file=ann_file_val, num_classes=num_classes,
                 data_prefix=dict(video=data_root_val),
                 pipeline={{_base_.val_pipeline}}, test_mode=True))
test_dataloader = dict(
    batch_size=1, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoListDataset', ann_file=ann_file_test, num_classes=num_classes,
                 data_prefix=dict(video=data_root_val),
                 pipeline={{_base_.test_pipeline}}, test_mode=True))
# top-1, top-5 and mean class accuracy
val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy', 'mean_class_accuracy'), metric_options=dict(
    top_k_accuracy=dict(topk=(1, 5))))
test_evaluator = val_evaluator
