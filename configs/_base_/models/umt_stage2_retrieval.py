# UMT-B stage-2 model for retrieval fine-tuning / zero-shot evaluation from the official 25M stage-2 checkpoint:
# VTC + VTM (no MLM, no masking, no teacher), BERT without its separate pretrained weights (all in the checkpoint).
# Leaves set tokenizer.max_length from the dataset base (max_txt_len), frames and drop path.
_base_ = ['./umt_stage2.py']
stage2_checkpoint = 'checkpoints/umt/b16_25m.pth'
model = dict(
    text=dict(_delete_=True, arch='bert-base'),
    teacher=None,
    mask_ratio=dict(video=0., image=0.),
    loss_weights=dict(vtc=1., vtm=1., mlm=0., align=0.),
    init_cfg=dict(type='Pretrained', checkpoint=stage2_checkpoint))
