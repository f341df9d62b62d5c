# ViT-g/14 K710-finetuned -> UCF101 split 1 (99.6 top-1 in videomaev2.md). ASSUMED: the g K400 recipe (lr 1e-3,
# ld .9, dp .2, wd .1, 30 ep); the reference gives no UCF101 recipe. Kinetics-style views (16x4, 5x3).
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/vit_recognizer.py', '../../_base_/datasets/ucf101.py',
          '../../_base_/schedules/adamw_ld_cosine.py']
num_classes = {{_base_.num_classes}}
pretrained = 'checkpoints/vit_g_vmaev2_k710_ft.pth'  # the K710 head is dropped, the encoder kept
model = dict(
    backbone=dict(arch='giant', drop_path_rate=0.2, with_cp=True,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    cls_head=dict(num_classes=num_classes, in_channels=1408),
    data_preprocessor=dict(blending=dict(augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                                                   dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.1), paramwise_cfg=dict(layer_decay_rate=0.9))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
