# DiDeMo paragraph retrieval: each video's sentences joined into one text (is_paragraph_retrieval);
# videos trimmed to 30 s; val / test splits.
# Official UMT annotation JSON (list of {"video", "caption"}); data roots are variables: override with --cfg-options.
# Max text length 64 tokens (official max_txt_l): set it in the model (tokenizer.max_length = max_txt_len).
_base_ = ['./retrieval_data.py']
data_root = 'data/didemo'
ann_root = f'{data_root}/annotations'
video_root = f'{data_root}/videos'
max_txt_len = 64
train_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/didemo_ret_train.json', caption_mode='paragraph',
                                     data_prefix=dict(video=video_root)))
val_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/didemo_ret_val.json', caption_mode='paragraph',
                                   data_prefix=dict(video=video_root)))
test_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/didemo_ret_test.json', caption_mode='paragraph',
                                    data_prefix=dict(video=video_root)))
