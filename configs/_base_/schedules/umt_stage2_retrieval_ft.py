# UMT stage-2 retrieval fine-tuning runtime + schedule (official recipe): AdamW wd .02, 1 warmup epoch then cosine,
# no LR auto-scaling (8 GPUs x 32), best checkpoint by mean recall. Leaves set max_epochs, train_cfg and the lr.
_base_ = ['../default_runtime.py', './umt_stage2_adamw_cosine.py']
param_scheduler = [dict(_base_.param_scheduler[0], end=1), dict(_base_.param_scheduler[1], begin=1)]
auto_scale_lr = dict(enable=False, base_batch_size=256)
default_hooks = dict(checkpoint=dict(interval=1, save_best='retrieval/r_mean', rule='greater', max_keep_ckpts=2))
