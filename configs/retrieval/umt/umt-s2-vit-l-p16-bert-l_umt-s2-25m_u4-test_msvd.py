# Zero-shot MSVD (multi-caption) retrieval with the official UMT-L stage-2 checkpoint (25M corpus): 4 frames, per-frame ITC
# similarities averaged, top 128 re-ranked by ITM. Official T2V R@1: 49.0.
#   python tools/test.py THIS_CONFIG checkpoints/umt/l16_25m.pth
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_stage2.py',
          '../../_base_/datasets/msvd_ret.py']
stage2_checkpoint = 'checkpoints/umt/l16_25m.pth'
model = dict(
    vision=dict(arch='umt2-large', num_frames=4, drop_path_rate=0.),
    text=dict(_delete_=True, arch='bert-large'),
    tokenizer=dict(path='checkpoints/bert-large-uncased', max_length={{_base_.max_txt_len}}),
    embed_dim=768,
    teacher=None,
    mask_ratio=dict(video=0., image=0.),
    loss_weights=dict(mlm=0., align=0.),
    init_cfg=dict(type='Pretrained', checkpoint=stage2_checkpoint))
test_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline_u4}}))
test_cfg = dict(keep_temporal=True)
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
val_dataloader = val_cfg = val_evaluator = None
