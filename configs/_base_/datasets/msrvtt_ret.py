# MSR-VTT retrieval: train 9k (msrvtt_ret_train9k.json, one caption per row, rows of a video share
# its video_id), test 1k-A (msrvtt_ret_test1k.json, one caption per video).
# Training rows may hold one caption or a list (caption_mode 'multi': each caption its own sample, as the official
# training set). Official UMT annotation JSON (list of {"video", "caption"}); data roots are variables:
# override with --cfg-options.
# Max text length 32 tokens (official max_txt_l): set it in the model (tokenizer.max_length = max_txt_len).
_base_ = ['./retrieval_data.py']
data_root = 'data/msrvtt'
ann_root = f'{data_root}/annotations'
video_root = f'{data_root}/videos'
max_txt_len = 32
train_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/msrvtt_ret_train9k.json', caption_mode='multi',
                                     data_prefix=dict(video=video_root)))
val_dataloader = dict(dataset=dict(ann_file=f'{ann_root}/msrvtt_ret_test1k.json', caption_mode='single',
                                   data_prefix=dict(video=video_root)))
test_dataloader = val_dataloader
