# Kinetics-600 as extracted JPEG frames, rawframe list format (see kinetics400_rawframes.py).
_base_ = ['./kinetics400_rawframes.py']
num_classes = 600
data_root = 'data/kinetics600/rawframes_train'
data_root_val = 'data/kinetics600/rawframes_val'
ann_file_train = 'data/kinetics600/kinetics600_train_list_rawframes.txt'
ann_file_val = 'data/kinetics600/kinetics600_val_list_rawframes.txt'
ann_file_test = ann_file_val
train_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_train, data_prefix=dict(img=data_root)))
val_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_val, data_prefix=dict(img=data_root_val)))
test_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_test, data_prefix=dict(img=data_root_val)))
