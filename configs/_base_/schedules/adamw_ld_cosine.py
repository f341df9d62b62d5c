# Fine-tuning schedule of VideoMAE V2 / UMT (run_class_finetuning.py): AdamW (.9, .999), wd .05, layer-wise
# lr decay, linear warmup then cosine to min_lr 1e-6, lr given per 256 clips (official: lr = blr * total
# batch / 256, so auto_scale_lr is on; total batch = GPUs x train_dataloader.batch_size, repeated samples
# not counted, as officially). Children set lr / layer_decay_rate and train_cfg.max_epochs: the cosine ends
# at the train loop's max_epochs (MMEngine fills in its `end` and `T_max`). A leaf's `warmup_epochs` does not
# re-evaluate this list (MMEngine evaluates bases first), so a leaf with another warmup rebuilds it in one line:
#   param_scheduler = [dict(_base_.param_scheduler[0], end=warmup_epochs),
#                      dict(_base_.param_scheduler[1], begin=warmup_epochs)]
max_epochs = 90
warmup_epochs = 5
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=7e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=True, base_batch_size=256)
