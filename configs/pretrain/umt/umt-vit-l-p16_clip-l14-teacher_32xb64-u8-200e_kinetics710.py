# UMT-L: ViT-L/16 student, CLIP ViT-L/14 teacher fed at 196 px (14x14 grid, like the student), drop path .2.
_base_ = ['./umt-vit-b-p16_clip-b16-teacher_32xb64-u8-200e_kinetics710.py']
clip_checkpoint = 'checkpoints/clip/ViT-L-14.pt'
model = dict(
    encoder=dict(arch='umt-large', drop_path_rate=0.2),
    teacher=dict(arch='vit_large_patch14_clip_224', img_size=196, proj_dim=768, checkpoint=clip_checkpoint))
