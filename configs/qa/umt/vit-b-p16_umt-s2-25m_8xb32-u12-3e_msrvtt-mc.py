# UMT-B msrvtt_mc (official exp/finetuning/mc_msrvtt/b16_25m.py): lr 8e-5, 3 epochs, no warmup, drop path .2.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_mc.py', '../../_base_/datasets/msrvtt_mc.py',
          '../../_base_/schedules/umt_qa_adamw_cosine.py']
optim_wrapper = dict(optimizer=dict(lr=8e-5))
train_cfg = dict(max_epochs=3)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=0,
                        convert_to_iter_based=True)]  # no warmup
