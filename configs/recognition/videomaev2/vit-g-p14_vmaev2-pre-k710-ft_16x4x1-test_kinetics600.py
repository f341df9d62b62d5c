# Evaluate a ViT-g/14 K710 model on Kinetics-600 without re-training: the head keeps its 710 rows (the K710
# checkpoint loads as it is) and outputs the 600 rows named by label_710to600.json (official misc/), so the
# metric sees 600 classes (official misc/ mapping).
# Use: tools/test.py THIS_CONFIG CKPT with CKPT from tools/convert_ckpt.py (target recognizer, no label map)
_base_ = ['./vit-g-p14_vmaev2-pre-k710-ft_16x4x1-test_kinetics400.py']
label_map = 'data/kinetics/label_710to600.json'
test_dataloader = dict(dataset=dict(ann_file='data/kinetics600/kinetics600_val_list_videos.txt',
                                    data_prefix=dict(video='data/kinetics600/videos_val')))
model = dict(cls_head=dict(num_classes=600, num_source_classes=710, label_map=label_map))
