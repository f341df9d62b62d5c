# UCF101 split 1 (101 classes) as extracted JPEG frames, rawframe list format (see kinetics400_rawframes.py);
# Kinetics pipelines (16x4, 5x3 test views).
_base_ = ['./kinetics400_rawframes.py']
num_classes = 101
split = 1
data_root = 'data/ucf101/rawframes'
data_root_val = 'data/ucf101/rawframes'
ann_file_train = f'data/ucf101/ucf101_train_split_{split}_rawframes.txt'
ann_file_val = f'data/ucf101/ucf101_val_split_{split}_rawframes.txt'
ann_file_test = ann_file_val
train_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_train, data_prefix=dict(img=data_root)))
val_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_val, data_prefix=dict(img=data_root_val)))
test_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_test, data_prefix=dict(img=data_root_val)))
