# Generic video-text retrieval data (official UMT fine-tuning): 32 per GPU, 12-frame pipelines, ITC for all pairs
# with the top 128 of every row and column re-scored by the ITM head (tasks/retrieval/loops.py). Dataset bases
# inherit it and set only each loader's `dataset=dict(ann_file=..., caption_mode=..., data_prefix=...)`.
_base_ = ['./retrieval_pipelines.py']
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,  # VTC gathers equal batches from every rank
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='RetrievalDataset', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RetrievalDataset', pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
val_cfg = dict(type='RetrievalValLoop', k_test=128)
test_cfg = dict(type='RetrievalTestLoop', k_test=128)
val_evaluator = dict(type='RetrievalMetric')
test_evaluator = val_evaluator
