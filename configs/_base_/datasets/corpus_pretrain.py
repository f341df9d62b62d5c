# Generic UMT stage-2 pretraining data: one ConcatDataset of the corpus's video / image-text sets (corpus bases set
# `train_dataloader.dataset.datasets`), 128 per GPU, batches of one modality (ModalityBatchSampler, the official
# MetaLoader's role); zero-shot MSR-VTT 1k-A (4 frames) as validation, as the official runs.
_base_ = ['./msrvtt_ret.py']
train_dataloader = dict(
    _delete_=True,
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='ModalityBatchSampler'),
    dataset=dict(type='ConcatDataset', datasets=[]))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline={{_base_.test_pipeline_u4}}))
test_dataloader = val_dataloader
