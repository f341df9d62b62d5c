# Evaluate a ViT-g/14 K710 model on Kinetics-400 without re-training: the head keeps its 710 rows (the K710
# checkpoint loads as it is) and outputs the 400 rows named by label_710to400.json (official misc/), so the
# metric sees 400 classes (official misc/ mapping).
# Use: tools/test.py THIS_CONFIG CKPT with CKPT from tools/convert_ckpt.py (target recognizer, no label map)
_base_ = ['./vit-g-p14_vmaev2-pre_8xb8-16x4x1-30e_kinetics400.py']
label_map = 'data/kinetics/label_710to400.json'
model = dict(backbone=dict(init_cfg=None), data_preprocessor=dict(blending=None),  # test only
             cls_head=dict(num_classes=400, num_source_classes=710, label_map=label_map))
