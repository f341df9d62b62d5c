# UMT QA / MC fine-tuning schedule (official exp/finetuning/{qa,mc}_*): AdamW (.9, .999), weight decay .02 (none on
# norms and biases), linear warmup (1 epoch for QA, none for MC), cosine to 1% of the lr (min_lr_multi 0.01),
# 8 GPUs x 32 clips; validation every epoch (the reference evaluates the test split after each epoch). Leaves set
# optim_wrapper.optimizer.lr and train_cfg.max_epochs (the cosine ends with the train loop: MMEngine fills its end).
# The reference trains in fp16: pass --amp.
max_epochs = 8
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-5, betas=(0.9, 0.999), weight_decay=0.02),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., bypass_duplicate=True))  # tied word embeddings
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=1, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=256)
