# AdaTAD (end-to-end TAD, tasks/tad/end_to_end.py): a frozen VideoViT with a temporal adapter after every block
# (backbones/adapters.py: Linear C->C/4, GELU, depthwise temporal conv k3 + 1x1 over the whole window, zero-init
# Linear back, gamma), activation checkpointing of block + adapter, 16-frame chunks; the ActionFormer detector on the
# spatially pooled tokens. Children set the encoder size, frozen_checkpoint and the detector's class count.
model = dict(
    type='EndToEndTAD',
    backbone=dict(type='AdapterVideoViT', arch='base', num_frames=16, drop_path_rate=0.1,
                  adapter_indices=None, adapter_cfg=dict(mlp_ratio=0.25, kernel_size=3), freeze=True,
                  train_last_blocks=0, with_cp=True),
    frozen_checkpoint=None,
    chunk_len=16,
    feat_upsample=2,  # 384 tokens of 768 frames -> 768 features, one per 4-frame snippet (OpenTAD's Interpolate)
    mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
    dtype='bf16',
    detector=dict(
        type='ActionFormer', num_classes=20, embed_dims=512, num_heads=4, arch=(2, 2, 5), window_size=None,
        mlp_ratio=4., head_dims=512, head_layers=3, center_sample_radius=1.5, focal_alpha=0.25, focal_gamma=2.0,
        reg_loss_weight=1.0, init_loss_norm=100., loss_norm_momentum=0.9, drop_path=0.1,
        test_cfg=dict(pre_nms_thresh=0.001, pre_nms_topk=2000, duration_thresh=0.05,
                      nms=dict(method='soft', sigma=0.7, min_score=0.001, max_segments=2000, multiclass=True,
                               voting_thresh=0.7))))
