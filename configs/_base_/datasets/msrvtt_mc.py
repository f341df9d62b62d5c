# MSRVTT-MC (official UMT mc_msrvtt): trained as retrieval on anno_downstream/msrvtt_ret_train7k.json
# ({video, caption}), evaluated on anno_downstream/msrvtt_mc_test.json ({video, caption: [5], answer: int}).
_base_ = ['./qa_data.py']
data_root = 'data/msrvtt/videos'
ann_root = 'data/anno_downstream'
train_dataloader = dict(
    drop_last=True,  # VTC gathers equal batches from every rank
    dataset=dict(type='RetrievalDataset', ann_file=f'{ann_root}/msrvtt_ret_train7k.json', caption_mode='single',
                 data_prefix=dict(video=data_root), pipeline={{_base_.mc_train_pipeline}}))
val_dataloader = dict(
    dataset=dict(type='VideoMCDataset', ann_file=f'{ann_root}/msrvtt_mc_test.json', data_prefix=dict(video=data_root),
                 pipeline={{_base_.mc_test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(type='MCAccuracy')
test_evaluator = dict(type='MCAccuracy')
