# ActivityNet Captions paragraph retrieval: each video's captions joined into one text; val_1 as test.
# Official UMT annotation JSON (list of {"video", "caption"}); data roots are variables: override with --cfg-options.
# Max text length 150 tokens (official max_txt_l): set it in the model (tokenizer.max_length = max_txt_len).
_base_ = ['./retrieval_data.py']
data_root = 'data/anet'
ann_root = f'{data_root}/annotations'
video_root = f'{data_root}/videos'
max_txt_len = 150
train_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/anet_ret_train.json', caption_mode='paragraph',
                                     data_prefix=dict(video=video_root)))
val_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/anet_ret_val_1.json', caption_mode='paragraph',
                                   data_prefix=dict(video=video_root)))
test_dataloader = val_dataloader
