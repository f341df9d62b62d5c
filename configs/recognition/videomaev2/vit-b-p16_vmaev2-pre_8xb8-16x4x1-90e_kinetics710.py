# VideoMAE V2 ViT-B/16 fine-tuned on kinetics710. ASSUMED: no ViT-B K710 recipe in the reference (official B/S K710 models are distilled from g); B's K400 recipe.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/vit_recognizer.py', '../../_base_/datasets/kinetics710.py',
          '../../_base_/schedules/adamw_ld_cosine.py']
num_classes = {{_base_.num_classes}}
pretrained = 'checkpoints/vit_b_vmaev2_pretrain.pth'  # any official checkpoint format (backbones/checkpoint.py)
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.1, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    cls_head=dict(num_classes=num_classes, in_channels=768),
    data_preprocessor=dict(blending=dict(augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                                                   dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
optim_wrapper = dict(optimizer=dict(lr=7e-4), paramwise_cfg=dict(layer_decay_rate=0.75))
max_epochs = 90
train_cfg = dict(max_epochs=max_epochs)
