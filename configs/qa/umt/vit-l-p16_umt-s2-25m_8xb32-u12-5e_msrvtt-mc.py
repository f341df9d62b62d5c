# UMT-L msrvtt_mc (official exp/finetuning/mc_msrvtt/l16_25m.py): lr 4e-5, 5 epochs, no warmup, drop path .3,
# embed 768. Published: 97.3.
_base_ = ['./vit-b-p16_umt-s2-25m_8xb32-u12-3e_msrvtt-mc.py']
model = dict(vision=dict(arch='umt2-large', drop_path_rate=0.3), text=dict(arch='bert-large'),
             tokenizer=dict(path='checkpoints/bert-large-uncased/vocab.txt'),
             init_cfg=dict(checkpoint='checkpoints/umt/l16_25m.pth'), embed_dim=768)
optim_wrapper = dict(optimizer=dict(lr=4e-5))
train_cfg = dict(max_epochs=5)
