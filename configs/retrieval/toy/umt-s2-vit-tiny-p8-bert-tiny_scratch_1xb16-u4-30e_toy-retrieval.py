# Toy UMT stage 2 from scratch on CPU (minutes): a tiny VideoViT (patch 8, 4 frames, 32 px) and a tiny BERT (2 text +
# 1 fusion layers) learn VTC + VTM + MLM on the toy captioned clips (random masking .5, no teacher), then the
# retrieval loop evaluates ITC and ITM re-ranking on 40 clips (chance R@1 2.5%).
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_stage2.py',
          '../../_base_/datasets/toy_retrieval.py', '../../_base_/schedules/umt_stage2_adamw_cosine.py']
model = dict(
    vision=dict(_delete_=True, img_size={{_base_.img_size}}, num_frames={{_base_.clip_len}}, patch_size=8,
                tubelet_size=1, embed_dim=64, depth=3, num_heads=4),
    text=dict(_delete_=True, vocab_size=32, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
              intermediate_size=128, max_position_embeddings=16, fusion_layer=2),
    tokenizer=dict(path={{_base_.vocab_file}}, max_length=12),
    embed_dim=32,
    teacher=None,
    mask_type='random',
    mask_ratio=dict(video=0.5, image=0.5),
    loss_weights=dict(align=0.),
    init_cfg=None)
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(_base_.param_scheduler[0], end=1), dict(_base_.param_scheduler[1], begin=1)]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=5, save_best='retrieval/t2v_r1_itc', rule='greater'))
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0)
