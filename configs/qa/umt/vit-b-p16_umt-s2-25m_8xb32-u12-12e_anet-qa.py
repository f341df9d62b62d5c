# UMT-B anet_qa (official exp/finetuning/qa_anet/b16_25m.py): lr 4e-5, 12 epochs, drop path .2.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_qa.py', '../../_base_/datasets/anet_qa.py',
          '../../_base_/schedules/umt_qa_adamw_cosine.py']
model = dict(answer_list={{_base_.answer_list}})
optim_wrapper = dict(optimizer=dict(lr=4e-5))
train_cfg = dict(max_epochs=12)
