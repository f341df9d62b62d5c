# Toy video QA on CPU: a tiny UMT QA model (VideoViT 64 wide, 3 blocks, 4 frames; BERT 64 wide, 2 text + 2
# fusion layers; 2-layer answer decoder) learns from scratch to answer colour and direction questions about
# the toy clips.
_base_ = ['../../_base_/default_runtime.py', '../../_base_/datasets/toy_qa.py',
          '../../_base_/schedules/umt_qa_adamw_cosine.py']
model = dict(
    type='ToyUMTQA',
    toy={{_base_.toy}},
    vision=dict(img_size={{_base_.img_size}}, num_frames={{_base_.num_frames}}, patch_size=8, tubelet_size=1,
                embed_dim=64, depth=3, num_heads=4, drop_path_rate=0.),
    text=dict(vocab_size=64, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128,
              max_position_embeddings=32, fusion_layer=2),
    tokenizer=dict(path={{_base_.vocab}}, max_length=16),
    answer_list={{_base_.answer_list}},
    max_answer_len=5,
    k_test=128,
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, format_shape='NCTHW'))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.02), clip_grad=dict(max_norm=5.0))
train_cfg = dict(max_epochs=40, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5, save_best='qa/acc', rule='greater'))
randomness = dict(seed=0)
