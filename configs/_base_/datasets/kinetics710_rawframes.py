# Kinetics-710 (K400+K600+K700 train sets merged, val videos removed; 710 classes, label_map_k710.txt) as
# extracted JPEG frames, rawframe list format (see kinetics400_rawframes.py).
_base_ = ['./kinetics400_rawframes.py']
num_classes = 710
data_root = 'data/kinetics710/rawframes_train'
data_root_val = 'data/kinetics710/rawframes_val'
ann_file_train = 'data/kinetics710/kinetics710_train_list_rawframes.txt'
ann_file_val = 'data/kinetics710/kinetics710_val_list_rawframes.txt'
ann_file_test = ann_file_val
train_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_train, data_prefix=dict(img=data_root)))
val_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_val, data_prefix=dict(img=data_root_val)))
test_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_test, data_prefix=dict(img=data_root_val)))
