# Toy UMT stage 1 on the toy motion videos. No CLIP weights are available offline, so the teacher is a tiny
# RANDOM CLIP ViT built here: the student learns to match random features (a pipeline check, not a model).
_base_ = ['../videomaev2/vmaev2-vit-tiny-p8_scratch_1xb16-8x2x1-4e_toy-motion.py']

model = dict(
    _delete_=True,
    type='UMTPretrainer',
    encoder=dict(img_size={{_base_.img_size}}, num_frames={{_base_.clip_len}}, patch_size=8, tubelet_size=1,
                 embed_dim=96, depth=6, num_heads=4),
    teacher=dict(type='CLIPTeacher', arch='vit_base_patch16_clip_224', img_size={{_base_.img_size}}, patch_size=8,
                 embed_dim=64, depth=6, num_heads=4, proj_dim=32, checkpoint=None),
    num_align_layers=4,
    mask_ratio=0.75,
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
