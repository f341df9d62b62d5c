# Something-Something V2 (174 classes) as extracted JPEG frames, rawframe list format (see
# kinetics400_rawframes.py); SSv2 pipelines (TSN segments, no flip) as in sthv2.py.
_base_ = ['./kinetics400_rawframes.py']
num_classes = 174
data_root = 'data/sthv2/rawframes'
data_root_val = 'data/sthv2/rawframes'
ann_file_train = 'data/sthv2/sthv2_train_list_rawframes.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_rawframes.txt'
ann_file_test = ann_file_val
train_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_train, data_prefix=dict(img=data_root),
    pipeline={{_base_.ssv2_train_pipeline}}))
val_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_val, data_prefix=dict(img=data_root_val),
    pipeline={{_base_.ssv2_val_pipeline}}))
test_dataloader = dict(dataset=dict(
    num_classes=num_classes, ann_file=ann_file_test, data_prefix=dict(img=data_root_val),
    pipeline={{_base_.ssv2_test_pipeline}}))
