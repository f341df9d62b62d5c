# UMT ViT-L/16 at 16 frames, K710-finetuned (8-frame checkpoint) -> K400 (90.6). Recipe:
# single_modality/exp/finetuning/k400/l16_ptk710_ftk710_ftk400_f16_res224.sh (16 GPUs x 8 clips, lr 1e-5, 5 ep,
# warmup 1, dp .2, ld .85, checkpointing); test 4 clips x 1 crop. The 8x14x14 position table of the checkpoint is
# stretched linearly in time to 16 frames (the umt presets' pos_ref_grid) and trained as a learnable table.
_base_ = ['./vit-l-p16_umt-pre-k710-ft_16xb16-u8-5e_kinetics400.py']
model = dict(backbone=dict(num_frames=16, pos_embed='learnable'))
train_dataloader = dict(batch_size=8, dataset=dict(pipeline={{_base_.umt16_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.umt16_val_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.umt16_test_pipeline}}))
