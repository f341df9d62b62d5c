# Fine-tuned DiDeMo (paragraph) retrieval, UMT-L from the official 25M stage-2 checkpoint (official recipe): 12 frames,
# VTC + VTM (no MLM, no masking, no teacher), 8 GPUs x 32, AdamW lr 4e-05 wd .02, 5 epochs (1 warmup), drop path
# 0.2, per-frame ITC averaged + top-128 ITM re-ranking. Official T2V R@1: 70.4.
_base_ = ['../../_base_/models/umt_stage2_retrieval_l.py', '../../_base_/datasets/didemo_ret.py',
          '../../_base_/schedules/umt_stage2_retrieval_ft.py']
model = dict(vision=dict(num_frames=12, drop_path_rate=0.2),
             tokenizer=dict(max_length={{_base_.max_txt_len}}))
max_epochs = 5
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=4e-05))
val_cfg = dict(keep_temporal=True)
test_cfg = dict(keep_temporal=True)
