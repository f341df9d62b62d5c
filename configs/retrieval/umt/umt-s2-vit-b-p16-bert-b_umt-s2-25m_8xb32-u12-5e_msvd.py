# Fine-tuned MSVD (multi-caption) retrieval, UMT-B from the official 25M stage-2 checkpoint (official recipe): 12 frames,
# VTC + VTM (no MLM, no masking, no teacher), 8 GPUs x 32, AdamW lr 1e-05 wd .02, 5 epochs (0 warmup), drop path
# 0.2, per-frame ITC averaged + top-128 ITM re-ranking. Official T2V R@1: 50.8.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_stage2.py',
          '../../_base_/datasets/msvd_ret.py', '../../_base_/schedules/umt_stage2_adamw_cosine.py']
stage2_checkpoint = 'checkpoints/umt/b16_25m.pth'
model = dict(
    vision=dict(arch='umt2-base', num_frames=12, drop_path_rate=0.2),
    text=dict(_delete_=True, arch='bert-base'),
    tokenizer=dict(path='checkpoints/bert-base-uncased', max_length={{_base_.max_txt_len}}),
    embed_dim=512,
    teacher=None,
    mask_ratio=dict(video=0., image=0.),
    loss_weights=dict(vtc=1., vtm=1., mlm=0., align=0.),
    init_cfg=dict(type='Pretrained', checkpoint=stage2_checkpoint))
max_epochs = 5
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-05))
param_scheduler = [dict(_base_.param_scheduler[1], begin=0)]  # no warmup
val_cfg = dict(keep_temporal=True)
test_cfg = dict(keep_temporal=True)
auto_scale_lr = dict(enable=False, base_batch_size=256)
default_hooks = dict(checkpoint=dict(interval=1, save_best='retrieval/r_mean', rule='greater', max_keep_ckpts=2))
