# UMT ViT-B/16 (8 frames) stage-1 K710 pretrain -> K710 (81.9). Recipe: unmasked_teacher single_modality/exp/finetuning/k710/b16_ptk710_ftk710_f8_res224.sh (lr 2e-4, 35 ep, warmup 2, dp .1 default, ld .75 default); test 4x3 views (umt.md).
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_recognizer.py',
          '../../_base_/datasets/kinetics710.py', '../../_base_/schedules/adamw_ld_cosine.py']
num_classes = {{_base_.num_classes}}
pretrained = 'checkpoints/b16_ptk710_f8_umt_pretrain.pth'  # any official checkpoint format (backbones/checkpoint.py)
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)), cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                                                   dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
train_dataloader = dict(batch_size=16, dataset=dict(pipeline={{_base_.umt_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.umt_val_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.umt_test_pipeline}}))
optim_wrapper = dict(optimizer=dict(lr=2e-4))
max_epochs, warmup_epochs = 35, 2
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(_base_.param_scheduler[0], end=warmup_epochs),
                   dict(_base_.param_scheduler[1], begin=warmup_epochs)]
