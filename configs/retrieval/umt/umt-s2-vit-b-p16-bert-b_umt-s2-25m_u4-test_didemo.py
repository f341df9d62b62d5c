# Zero-shot DiDeMo (paragraph) retrieval with the official UMT-B stage-2 checkpoint (25M corpus): 4 frames, per-frame ITC
# similarities averaged, top 128 re-ranked by ITM. Official T2V R@1: 41.2.
#   python tools/test.py THIS_CONFIG checkpoints/umt/b16_25m.pth
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_stage2.py',
          '../../_base_/datasets/didemo_ret.py']
stage2_checkpoint = 'checkpoints/umt/b16_25m.pth'
model = dict(
    vision=dict(arch='umt2-base', num_frames=4, drop_path_rate=0.),
    text=dict(_delete_=True, arch='bert-base'),
    tokenizer=dict(path='checkpoints/bert-base-uncased', max_length={{_base_.max_txt_len}}),
    embed_dim=512,
    teacher=None,
    mask_ratio=dict(video=0., image=0.),
    loss_weights=dict(mlm=0., align=0.),
    init_cfg=dict(type='Pretrained', checkpoint=stage2_checkpoint))
test_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline_u4}}))
test_cfg = dict(keep_temporal=True)
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
val_dataloader = val_cfg = val_evaluator = None
