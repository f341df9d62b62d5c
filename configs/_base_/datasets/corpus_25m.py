# UMT stage-2 25M corpus (official data_25m): WebVid-10M (video) + CC3M, COCO, Visual Genome, SBU, CC12M
# (image).
# Official annotation JSON (list of {"video" | "image", "caption"}); every caption is its own pair; images are
# 1-frame clips and batches hold one modality (ModalityBatchSampler, the official MetaLoader's role). 4 frames,
# RandomResizedCrop(224, .5-1) + flip; zero-shot MSR-VTT 1k-A (4 frames) as validation, as the official runs.
_base_ = ['./corpus_pretrain.py']
anno_root_pt = 'data/anno_pretrain'
webvid_10m_root = 'data/webvid10m'
cc3m_root = 'data/cc3m'
coco_root = 'data/coco'
vg_root = 'data/vg'
sbu_root = 'data/sbu'
cc12m_root = 'data/cc12m'
train_datasets = [
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/webvid_10m_train.json', caption_mode='multi',
         data_prefix=dict(video=webvid_10m_root), pipeline={{_base_.train_pipeline_u4}}),
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/cc3m_train.json', caption_mode='multi',
         data_prefix=dict(img=cc3m_root), pipeline={{_base_.image_train_pipeline}}),
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/coco.json', caption_mode='multi',
         data_prefix=dict(img=coco_root), pipeline={{_base_.image_train_pipeline}}),
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/vg.json', caption_mode='multi',
         data_prefix=dict(img=vg_root), pipeline={{_base_.image_train_pipeline}}),
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/sbu.json', caption_mode='multi',
         data_prefix=dict(img=sbu_root), pipeline={{_base_.image_train_pipeline}}),
    dict(type='RetrievalDataset', ann_file=f'{anno_root_pt}/cc12m.json', caption_mode='multi',
         data_prefix=dict(img=cc12m_root), pipeline={{_base_.image_train_pipeline}}),
]
train_dataloader = dict(dataset=dict(datasets=train_datasets))
