# UMT-L msrvtt_qa (official exp/finetuning/qa_msrvtt/l16_25m.py): lr 4e-5, 5 epochs, drop path .4; 5-layer
# answer decoder (24 - fusion layer 19). Published: 47.1.
_base_ = ['./vit-b-p16_umt-s2-25m_8xb32-u12-8e_msrvtt-qa.py']
model = dict(vision=dict(arch='umt2-large', drop_path_rate=0.4), text=dict(arch='bert-large'),
             tokenizer=dict(path='checkpoints/bert-large-uncased/vocab.txt'),
             init_cfg=dict(checkpoint='checkpoints/umt/l16_25m.pth'))
optim_wrapper = dict(optimizer=dict(lr=4e-5))
train_cfg = dict(max_epochs=5)
