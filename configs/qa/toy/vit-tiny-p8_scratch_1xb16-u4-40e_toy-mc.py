# Toy multiple choice on CPU: a tiny UMT stage-2 model trained from scratch as retrieval (VTC + VTM) on the
# toy QA clips' captions ("a red disc moves left"), evaluated by choosing the true caption among 5.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/datasets/toy_qa.py',
          '../../_base_/schedules/umt_qa_adamw_cosine.py']
model = dict(
    type='ToyUMTMultipleChoice',
    toy={{_base_.toy}},
    vision=dict(img_size={{_base_.img_size}}, num_frames={{_base_.num_frames}}, patch_size=8, tubelet_size=1,
                embed_dim=64, depth=2, num_heads=4, drop_path_rate=0.),
    text=dict(vocab_size=64, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128,
              max_position_embeddings=32, fusion_layer=2),
    tokenizer=dict(path={{_base_.vocab}}, max_length=16),
    embed_dim=32,
    loss_weights=dict(vtc=1., vtm=1., mlm=0., align=0.),
    mask_ratio=dict(video=0., image=0.),
    mask_type='random',
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, format_shape='NCTHW'))
train_dataloader = dict(
    drop_last=True,
    dataset=dict(_delete_=True, type='ToyQACaptionDataset', toy={{_base_.toy}},
                 ann_file='data/toy_qa/captions_train.json',
                 caption_mode='single', data_prefix=dict(video={{_base_.videos}}),
                 pipeline={{_base_.mc_train_pipeline}}))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='ToyVideoMCDataset', toy={{_base_.toy}}, ann_file='data/toy_qa/mc_val.json',
                 data_prefix=dict(video={{_base_.videos}}), pipeline={{_base_.mc_test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='MCAccuracy')
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=5e-4, weight_decay=0.02), clip_grad=dict(max_norm=5.0))
train_cfg = dict(max_epochs=40, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5, save_best='mc/acc', rule='greater'))
randomness = dict(seed=0)
