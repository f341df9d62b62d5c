# UMT ViT-B/16 K710 pretrain -> SSv2 (70.8). Recipe: single_modality/exp/finetuning/ssv2/b16_ptk710_ftssv2_f8_res224.sh (lr 2e-4, 30 ep, warmup 5, dp .1); 8 segments, test 2x3, no flip.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_recognizer.py',
          '../../_base_/datasets/sthv2.py', '../../_base_/schedules/adamw_ld_cosine.py']
num_classes = {{_base_.num_classes}}
pretrained = 'checkpoints/b16_ptk710_f8_umt_pretrain.pth'  # any official checkpoint format (backbones/checkpoint.py)
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)), cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                                                   dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
train_dataloader = dict(batch_size=16, dataset=dict(pipeline={{_base_.umt_ssv2_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.umt_ssv2_val_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.umt_ssv2_test_pipeline}}))
optim_wrapper = dict(optimizer=dict(lr=2e-4))
max_epochs = 30  # warmup 5: the schedule base's
train_cfg = dict(max_epochs=max_epochs)
