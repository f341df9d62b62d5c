# HMDB51 split 1 (51 classes) as extracted JPEG frames, rawframe list format (see kinetics400_rawframes.py);
# Kinetics pipelines (16x4, 5x3 test views).
_base_ = ['./kinetics400_rawframes.py']
num_classes = 51
split = 1
data_root = 'data/hmdb51/rawframes'
data_root_val = 'data/hmdb51/rawframes'
ann_file_train = f'data/hmdb51/hmdb51_train_split_{split}_rawframes.txt'
ann_file_val = f'data/hmdb51/hmdb51_val_split_{split}_rawframes.txt'
ann_file_test = ann_file_val
train_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_train, data_prefix=dict(img=data_root)))
val_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_val, data_prefix=dict(img=data_root_val)))
test_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_test, data_prefix=dict(img=data_root_val)))
