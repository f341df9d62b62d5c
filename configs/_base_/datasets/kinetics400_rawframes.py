# Kinetics-400 as extracted JPEG frames, mmaction2's rawframe list format: one "frame_dir total_frames label" per
# line, frame_dir/img_00001.jpg ... (mmaction2's tools/data/build_rawframes.py writes this layout; set
# filename_tmpl / start_index in the datasets for another naming). Same pipelines and views as kinetics400.py.
# Build time checks every row and that its first and last frame files exist (file:line errors); a missing or
# corrupt frame is skipped in training and raises in testing (tasks/datasets/rawframes.py).
_base_ = ['./kinetics400.py']
data_root = 'data/kinetics400/rawframes_train'
data_root_val = 'data/kinetics400/rawframes_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_rawframes.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_rawframes.txt'
ann_file_test = ann_file_val

# Leaf configs pick pipelines by these names: from here on they read rawframes.
train_pipeline = {{_base_.rawframe_train_pipeline}}
val_pipeline = {{_base_.rawframe_val_pipeline}}
test_pipeline = {{_base_.rawframe_test_pipeline}}
umt_train_pipeline = {{_base_.rawframe_umt_train_pipeline}}
umt_val_pipeline = {{_base_.rawframe_umt_val_pipeline}}
umt_test_pipeline = {{_base_.rawframe_umt_test_pipeline}}
umt16_train_pipeline = {{_base_.rawframe_umt16_train_pipeline}}
umt16_val_pipeline = {{_base_.rawframe_umt16_val_pipeline}}
umt16_test_pipeline = {{_base_.rawframe_umt16_test_pipeline}}
ssv2_train_pipeline = {{_base_.rawframe_ssv2_train_pipeline}}
ssv2_val_pipeline = {{_base_.rawframe_ssv2_val_pipeline}}
ssv2_test_pipeline = {{_base_.rawframe_ssv2_test_pipeline}}
umt_ssv2_train_pipeline = {{_base_.rawframe_umt_ssv2_train_pipeline}}
umt_ssv2_val_pipeline = {{_base_.rawframe_umt_ssv2_val_pipeline}}
umt_ssv2_test_pipeline = {{_base_.rawframe_umt_ssv2_test_pipeline}}

# Repeated augmentation x2 as with videos: each frame file is read once for both copies.
train_dataloader = dict(dataset=dict(
    type='RepeatAugRawframeListDataset', ann_file=ann_file_train, data_prefix=dict(_delete_=True, img=data_root),
    pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    type='RawframeListDataset', ann_file=ann_file_val, data_prefix=dict(_delete_=True, img=data_root_val),
    pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(
    type='RawframeListDataset', ann_file=ann_file_test, data_prefix=dict(_delete_=True, img=data_root_val),
    pipeline=test_pipeline))
