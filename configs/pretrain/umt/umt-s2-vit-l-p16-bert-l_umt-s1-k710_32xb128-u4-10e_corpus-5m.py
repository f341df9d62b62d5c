# UMT stage 2, L: the stage-1 ViT (4 frames) + BERT (bert-large) on the 5M corpus (WebVid-2M + CC3M): one masked forward
# (semantic masks from the frozen CLIP teacher: video .8, image .5) feeds VTC + VTM + MLM + unmasked-teacher
# alignment (all weight 1). Official: 32 GPUs x 128, AdamW 1e-4 (.9, .999) wd .02, 10 epochs (1 warmup, cosine),
# fp16 (--amp); zero-shot MSR-VTT 1k-A (4 frames) validation every epoch.
_base_ = ['./umt-s2-vit-b-p16-bert-b_umt-s1-k710_16xb128-u4-10e_corpus-5m.py']
model = dict(
    vision=dict(arch='umt2-large', drop_path_rate=0.2),
    text=dict(arch='bert-large', pretrained='checkpoints/bert-large-uncased'),
    tokenizer=dict(path='checkpoints/bert-large-uncased'),
    embed_dim=768,
    teacher=dict(arch='vit_large_patch14_clip_224', img_size=196, proj_dim=768,
                 checkpoint='checkpoints/clip/ViT-L-14.pt'),
    init_cfg=dict(checkpoint='checkpoints/umt/l16_ptk710_f8_res224.pth'))
auto_scale_lr = dict(base_batch_size=4096)
