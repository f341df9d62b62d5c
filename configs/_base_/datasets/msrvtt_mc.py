# MSRVTT-MC (official UMT mc_msrvtt): trained as retrieval on anno_downstream/msrvtt_ret_train7k.json
# ({video, caption}), evaluated on anno_downstream/msrvtt_mc_test.json ({video, caption: [5], answer: int}).
_base_ = ['./qa_pipelines.py']
data_root = 'data/msrvtt/videos'
ann_root = 'data/anno_downstream'
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,  # VTC gathers equal batches from every rank
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='RetrievalDataset', ann_file=f'{ann_root}/msrvtt_ret_train7k.json', caption_mode='single',
                 data_prefix=dict(video=data_root), pipeline={{_base_.mc_train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoMCDataset', ann_file=f'{ann_root}/msrvtt_mc_test.json', data_prefix=dict(video=data_root),
                 pipeline={{_base_.mc_test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='MCAccuracy')
test_evaluator = dict(type='MCAccuracy')
