# UMT ViT-B/16 K710-finetuned -> K400 (87.4). Recipe: single_modality/exp/finetuning/k400/b16_ptk710_ftk710_ftk400_f8_res224.sh (lr 2e-5, 5 ep, warmup 1, dp .1); test 4x3. The official run starts the K400 head from the K710 head via label_710to400.json: convert with tools/convert_ckpt.py (label map) and set load_from.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_recognizer.py',
          '../../_base_/datasets/kinetics400.py', '../../_base_/schedules/adamw_ld_cosine.py']
num_classes = {{_base_.num_classes}}
pretrained = 'checkpoints/b16_ptk710_ftk710_f8.pth'  # any official checkpoint format (backbones/checkpoint.py)
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)), cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                                                   dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
train_dataloader = dict(batch_size=16, dataset=dict(pipeline={{_base_.umt_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.umt_val_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.umt_test_pipeline}}))
optim_wrapper = dict(optimizer=dict(lr=2e-5))
max_epochs, warmup_epochs = 5, 1
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(_base_.param_scheduler[0], end=warmup_epochs),
                   dict(_base_.param_scheduler[1], begin=warmup_epochs)]
