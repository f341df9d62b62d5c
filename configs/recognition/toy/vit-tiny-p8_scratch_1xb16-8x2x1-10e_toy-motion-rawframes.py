# The built-in main job on the toy data as extracted JPEG frames (mmaction2's rawframe lists): same model,
# schedule and pipelines, frames read by CheckedRawFrameDecode. Make the frames once:
#   python tools/data/make_toy.py recognition --out data/toy_motion --num-train 1000 --num-val 200
#   python tools/data/extract_frames.py data/toy_motion/train_list.txt data/toy_motion data/toy_motion_rawframes
#   python tools/data/extract_frames.py data/toy_motion/val_list.txt data/toy_motion data/toy_motion_rawframes
_base_ = ['./vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py']
data_root = 'data/toy_motion_rawframes'
_dataset = dict(_delete_=True, type='RawframeListDataset', num_classes={{_base_.num_classes}},
                data_prefix=dict(img=data_root))
train_dataloader = dict(dataset=dict(_dataset, ann_file=f'{data_root}/train_list_rawframes.txt',
                                     pipeline={{_base_.rawframe_train_pipeline}}))
val_dataloader = dict(dataset=dict(_dataset, ann_file=f'{data_root}/val_list_rawframes.txt',
                                   pipeline={{_base_.rawframe_val_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
