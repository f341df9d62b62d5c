# LSMDC retrieval: train lsmdc_ret_train.json, test the 1000-clip lsmdc_ret_test_1000.json.
# Training rows may hold one caption or a list (caption_mode 'multi': each caption its own sample, as the official
# training set). Official UMT annotation JSON (list of {"video", "caption"}); data roots are variables:
# override with --cfg-options.
# Max text length 96 tokens (official max_txt_l): set it in the model (tokenizer.max_length = max_txt_len).
_base_ = ['./retrieval_data.py']
data_root = 'data/lsmdc'
ann_root = f'{data_root}/annotations'
video_root = f'{data_root}/videos'
max_txt_len = 96
train_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/lsmdc_ret_train.json', caption_mode='multi',
                                     data_prefix=dict(video=video_root)))
val_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/lsmdc_ret_test_1000.json', caption_mode='single',
                                   data_prefix=dict(video=video_root)))
test_dataloader = val_dataloader
