# VideoMAE V2 ViT-g/14 (~1.01B backbone parameters, K710 fine-tuned) on AVA v2.2: 16x4 frames, 224 short side,
# activation checkpointing on every block. Paper: 42.6 mAP. Drop path and layer decay for g are VideoFM's choice
# (no official AVA recipe for g: VideoMAEv2 issue #55).
_base_ = ['./vit-b-p16_vmaev2-g-dist-k710_8xb8-16x4x1-20e_ava22.py']

pretrained = 'checkpoints/vit_g_hybrid_pt_1200e_k710_ft.pth'
model = dict(backbone=dict(arch='giant', drop_path_rate=0.3, with_cp=True, cp_interval=1,
                           init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9))
train_dataloader = dict(batch_size=4)
