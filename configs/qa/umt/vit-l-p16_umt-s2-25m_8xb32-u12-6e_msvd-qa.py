# UMT-L msvd_qa (official exp/finetuning/qa_msvd/l16_25m.py): lr 6e-5, 6 epochs, drop path .4. Published:
# 55.2.
_base_ = ['./vit-b-p16_umt-s2-25m_8xb32-u12-6e_msvd-qa.py']
model = dict(vision=dict(arch='umt2-large', drop_path_rate=0.4), text=dict(arch='bert-large'),
             tokenizer=dict(path='checkpoints/bert-large-uncased/vocab.txt'),
             init_cfg=dict(checkpoint='checkpoints/umt/l16_25m.pth'))
optim_wrapper = dict(optimizer=dict(lr=6e-5))
train_cfg = dict(max_epochs=6)
