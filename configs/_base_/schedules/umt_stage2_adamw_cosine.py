# UMT stage-2 schedule (official multi_modality): AdamW (.9, .999), weight decay .02 (none on norms, biases and the
# temperature), 1 warmup epoch, cosine to 1% of the peak (min_lr_multi .01). fp16 in the official runs: --amp.
max_epochs = 10
warmup_epochs = 1
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.02),
    # bypass_duplicate: the MLM decoder shares its weight with the word embeddings
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0., custom_keys={'temp': dict(decay_mult=0.)},
                       bypass_duplicate=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=warmup_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
