# ActionFormer (tasks/tad/detector.py) with the THUMOS14 recipe: arch (2, 2, 5) -> 6 FPN levels, 512-d, 4 heads,
# local window 19, heads 512-d; test: score thr .001, top-k 2000 per level, Gaussian Soft-NMS sigma .5, 200 segments.
model = dict(
    type='ActionFormer',
    in_channels=1408,  # VideoMAE V2-g features
    num_classes=20,
    embed_dims=512,
    num_heads=4,
    arch=(2, 2, 5),
    window_size=19,
    mlp_ratio=4.,
    head_dims=512,
    head_layers=3,
    center_sample_radius=1.5,
    focal_alpha=0.25,
    focal_gamma=2.0,
    reg_loss_weight=1.0,
    init_loss_norm=100.,
    loss_norm_momentum=0.9,
    drop_path=0.1,
    test_cfg=dict(pre_nms_thresh=0.001, pre_nms_topk=2000, duration_thresh=0.05,
                  nms=dict(method='soft', sigma=0.5, min_score=0.001, max_segments=200, multiclass=True)))
