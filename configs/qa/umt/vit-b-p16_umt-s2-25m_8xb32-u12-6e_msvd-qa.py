# UMT-B msvd_qa (official exp/finetuning/qa_msvd/b16_25m.py): lr 6e-5, 6 epochs, drop path .2.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_qa.py', '../../_base_/datasets/msvd_qa.py',
          '../../_base_/schedules/umt_qa_adamw_cosine.py']
model = dict(answer_list={{_base_.answer_list}})
optim_wrapper = dict(optimizer=dict(lr=6e-5))
train_cfg = dict(max_epochs=6)
