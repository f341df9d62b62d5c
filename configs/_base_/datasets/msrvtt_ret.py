# MSR-VTT retrieval: train 9k (msrvtt_ret_train9k.json, one caption per row, rows of a video share
# its video_id), test 1k-A (msrvtt_ret_test1k.json, one caption per video).
# Training rows may hold one caption or a list (caption_mode 'multi': each caption its own sample, as the official
# training set). Official UMT annotation JSON (list of {"video", "caption"}); data roots are variables:
# override with --cfg-options.
# Max text length 32 tokens (official max_txt_l): set it in the model (tokenizer.max_length = max_txt_len).
_base_ = ['./retrieval_pipelines.py']
data_root = 'data/msrvtt'
ann_root = f'{data_root}/annotations'
video_root = f'{data_root}/videos'
max_txt_len = 32
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,  # VTC gathers equal batches from every rank
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='RetrievalDataset', ann_file=f'{ann_root}/msrvtt_ret_train9k.json', caption_mode='multi',
                 data_prefix=dict(video=video_root), pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RetrievalDataset', ann_file=f'{ann_root}/msrvtt_ret_test1k.json', caption_mode='single',
                 data_prefix=dict(video=video_root), pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RetrievalDataset', ann_file=f'{ann_root}/msrvtt_ret_test1k.json', caption_mode='single',
                 data_prefix=dict(video=video_root), pipeline={{_base_.test_pipeline}}, test_mode=True))
# ITC for all pairs, top 128 of every row and column re-scored by the ITM head (tasks/retrieval/loops.py)
val_cfg = dict(type='RetrievalValLoop', k_test=128)
test_cfg = dict(type='RetrievalTestLoop', k_test=128)
val_evaluator = dict(type='RetrievalMetric')
test_evaluator = val_evaluator
