# Generic open-ended video QA data (official UMT fine-tuning): 32 per GPU, 12-frame pipelines, QAAccuracy.
# Dataset bases inherit it and set only each loader's `dataset=dict(ann_file=..., answer_list=..., data_prefix=...)`.
_base_ = ['./qa_pipelines.py']
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoQADataset', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoQADataset', pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='QAAccuracy')
test_evaluator = dict(type='QAAccuracy')
