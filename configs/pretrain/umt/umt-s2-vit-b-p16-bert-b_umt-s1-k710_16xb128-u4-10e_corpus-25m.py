# UMT stage 2, B: the stage-1 ViT (4 frames) + BERT (bert-base) on the 25M corpus (WebVid-10M + CC3M + COCO + VG + SBU + CC12M): one masked forward
# (semantic masks from the frozen CLIP teacher: video .8, image .5) feeds VTC + VTM + MLM + unmasked-teacher
# alignment (all weight 1). Official: 16 GPUs x 128, AdamW 1e-4 (.9, .999) wd .02, 10 epochs (1 warmup, cosine),
# fp16 (--amp); zero-shot MSR-VTT 1k-A (4 frames) validation every epoch.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_stage2.py',
          '../../_base_/datasets/corpus_25m.py', '../../_base_/schedules/umt_stage2_adamw_cosine.py']
# the model is umt_stage2.py's default: UMT-B, 4 frames, drop path 0.1, BERT-base, CLIP-B/16 teacher
val_cfg = dict(keep_temporal=True)
test_cfg = dict(keep_temporal=True)
default_hooks = dict(checkpoint=dict(interval=1, save_best='retrieval/r_mean', rule='greater', max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=2048)
