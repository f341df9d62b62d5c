# UMT-L twin of umt_stage2_retrieval.py (official 25M stage-2 ViT-L/16 + BERT-large checkpoint).
_base_ = ['./umt_stage2_retrieval.py']
stage2_checkpoint = 'checkpoints/umt/l16_25m.pth'
model = dict(
    vision=dict(arch='umt2-large'),
    text=dict(arch='bert-large'),
    tokenizer=dict(path='checkpoints/bert-large-uncased'),
    embed_dim=768,
    init_cfg=dict(checkpoint=stage2_checkpoint))
