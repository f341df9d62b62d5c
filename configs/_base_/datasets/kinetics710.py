# Kinetics-710 (K400+K600+K700 train sets merged, val videos removed; 710 classes, label_map_k710.txt),
# video list format (see kinetics400.py).
_base_ = ['./kinetics400.py']
num_classes = 710
data_root = 'data/kinetics710/videos_train'
data_root_val = 'data/kinetics710/videos_val'
ann_file_train = 'data/kinetics710/kinetics710_train_list_videos.txt'
ann_file_val = 'data/kinetics710/kinetics710_val_list_videos.txt'
ann_file_test = ann_file_val
train_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_train, data_prefix=dict(video=data_root)))
val_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_val, data_prefix=dict(video=data_root_val)))
test_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_test, data_prefix=dict(video=data_root_val)))
