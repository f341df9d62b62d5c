# UMT-L anet_qa (official exp/finetuning/qa_anet/l16_25m.py): lr 4e-5, 10 epochs, drop path .3. Published:
# 47.9.
_base_ = ['./vit-b-p16_umt-s2-25m_8xb32-u12-12e_anet-qa.py']
model = dict(vision=dict(arch='umt2-large', drop_path_rate=0.3), text=dict(arch='bert-large'),
             tokenizer=dict(path='checkpoints/bert-large-uncased/vocab.txt'),
             init_cfg=dict(checkpoint='checkpoints/umt/l16_25m.pth'))
optim_wrapper = dict(optimizer=dict(lr=4e-5))
train_cfg = dict(max_epochs=10)
