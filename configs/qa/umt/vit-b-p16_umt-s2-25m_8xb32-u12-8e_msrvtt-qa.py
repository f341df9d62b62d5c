# UMT-B msrvtt_qa (official exp/finetuning/qa_msrvtt/b16_25m.py): the published b16_25m.py holds the L model
# (a mislabelled config); the B model here takes its schedule (lr 2e-5, 8 epochs) with the B drop path .2 of
# the other B QA configs.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_qa.py', '../../_base_/datasets/msrvtt_qa.py',
          '../../_base_/schedules/umt_qa_adamw_cosine.py']
model = dict(answer_list={{_base_.answer_list}})
optim_wrapper = dict(optimizer=dict(lr=2e-5))
train_cfg = dict(max_epochs=8)
