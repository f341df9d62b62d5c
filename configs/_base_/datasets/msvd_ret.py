# MSVD retrieval, multi-caption (official multi_txt_gt): every caption of a test video is its own query
# (the official table once evaluated it in paragraph mode by mistake); training: every caption its own sample.
# Official UMT annotation JSON (list of {"video", "caption"}); data roots are variables: override with --cfg-options.
# Max text length 64 tokens (official max_txt_l): set it in the model (tokenizer.max_length = max_txt_len).
_base_ = ['./retrieval_data.py']
data_root = 'data/msvd'
ann_root = f'{data_root}/annotations'
video_root = f'{data_root}/videos'
max_txt_len = 64
train_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/msvd_ret_train.json', caption_mode='multi',
                                     data_prefix=dict(video=video_root)))
val_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/msvd_ret_test.json', caption_mode='multi',
                                   data_prefix=dict(video=video_root)))
test_dataloader = val_dataloader
