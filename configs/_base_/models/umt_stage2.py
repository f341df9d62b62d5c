# UMT stage 2 (backbones.UMTStage2), ViT-B/16 + BERT-base: 9 text-only + 3 fusion layers (cross-attention to the
# video tokens), 512-d joint space, temperature .07 (learnable, clamped [.001, .5]), ITM head, MLM head, and the
# frozen CLIP ViT-B/16 teacher of stage 1 (semantic masks: video .8, image .5; unmasked-token alignment).
# Nothing is downloaded: BERT (weights + vocab.txt) and CLIP come from local paths; the vision encoder starts from
# the UMT stage-1 checkpoint (vision_encoder.encoder + clip_decoder).
bert_dir = 'checkpoints/bert-base-uncased'  # transformers BERT folder: config.json, model.safetensors, vocab.txt
clip_checkpoint = 'checkpoints/clip/ViT-B-16.pt'
stage1_checkpoint = 'checkpoints/umt/b16_ptk710_f8_res224.pth'
model = dict(
    type='UMTStage2',
    vision=dict(arch='umt2-base', img_size=224, num_frames=4, drop_path_rate=0.1),
    text=dict(arch='bert-base', pretrained=bert_dir),
    tokenizer=dict(path=bert_dir, max_length=32),
    embed_dim=512,
    temp=0.07,
    mask_type='semantic',
    mask_ratio=dict(video=0.8, image=0.5),
    teacher=dict(type='CLIPTeacher', arch='vit_base_patch16_clip_224', img_size=224, proj_dim=512,
                 checkpoint=clip_checkpoint),
    loss_weights=dict(vtc=1., vtm=1., mlm=1., align=1.),
    mlm_prob=0.5,
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'),
    init_cfg=dict(type='Pretrained', checkpoint=stage1_checkpoint))
