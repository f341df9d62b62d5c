# UMT multiple choice (official exp/finetuning/mc_msrvtt): the stage-2 model fine-tuned as retrieval (VTC + VTM,
# no MLM, no teacher, no masking) on MSR-VTT 7k, evaluated on MSRVTT-MC: 0.7 * softmax(ITM)[match] + 0.3 *
# softmax over the 5 options of per-frame ITC / temperature. 12 frames, 224 px, captions of 32 tokens.
stage2_checkpoint = 'checkpoints/umt/b16_25m.pth'
bert_vocab = 'checkpoints/bert-base-uncased/vocab.txt'
model = dict(
    type='UMTMultipleChoice',
    vision=dict(arch='umt2-base', num_frames=12, img_size=224, drop_path_rate=0.2),
    text=dict(arch='bert-base'),
    tokenizer=dict(path=bert_vocab, max_length=32),
    embed_dim=512,
    loss_weights=dict(vtc=1., vtm=1., mlm=0., align=0.),
    mask_ratio=dict(video=0., image=0.),
    mask_type='random',
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'),
    init_cfg=dict(type='Pretrained', checkpoint=stage2_checkpoint))
