# VideoViT + VideoClsHead in mmaction2's Recognizer3D: the official VideoMAE V2 / UMT fine-tuning model.
# backbone out_type='pooled' gives fc_norm(mean(tokens)); the head adds dropout + linear (init scale 0.001).
# Training blends batches like timm's Mixup(mixup_alpha=.8, cutmix_alpha=1., prob=1., switch_prob=.5,
# label_smoothing=.1): RandomBatchAugment picks mixup or cutmix with equal probability; the head then smooths
# the mixed one-hot targets, (1 - eps) * mix + eps / K, which equals timm's mix of smoothed targets.
# Multi-view testing: Recognizer3D folds the views (B, V, C, T, H, W) into the batch and the head averages
# softmax probabilities per video (average_clips='prob', as the official test).
_num_classes = 400  # children set theirs from the dataset base
model = dict(
    type='Recognizer3D',
    backbone=dict(type='VideoViT', arch='base', drop_path_rate=0.1, out_type='pooled'),
    cls_head=dict(type='VideoClsHead', num_classes=_num_classes, in_channels=768,
                  dropout=0.0,  # official --head_drop_rate default
                  init_scale=0.001, label_smooth_eps=0.1, average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        format_shape='NCTHW',
        blending=dict(type='RandomBatchAugment', augments=[
            dict(type='MixupBlending', alpha=0.8, num_classes=_num_classes),
            dict(type='CutmixBlending', alpha=1.0, num_classes=_num_classes)])))
