# UMT stage-2 5M corpus: WebVid-2M (video) + CC3M (image), official data_5m.
# Official annotation JSON (list of {"video" | "image", "caption"}); every caption is its own pair; images are
# 1-frame clips and batches hold one modality (ModalityBatchSampler, the official MetaLoader's role). 4 frames,
# RandomResizedCrop(224, .5-1) + flip; zero-shot MSR-VTT 1k-A (4 frames) as validation, as the official runs.
_base_ = ['./corpus_pretrain.py']
anno_root_pt = 'data/anno_pretrain'
webvid_root = 'data/webvid'
cc3m_root = 'data/cc3m'
train_datasets = [
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/webvid_train.json', caption_mode='multi',
         data_prefix=dict(video=webvid_root), pipeline={{_base_.train_pipeline_u4}}),
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/cc3m_train.json', caption_mode='multi',
         data_prefix=dict(img=cc3m_root), pipeline={{_base_.image_train_pipeline}}),
]
train_dataloader = dict(dataset=dict(datasets=train_datasets))
