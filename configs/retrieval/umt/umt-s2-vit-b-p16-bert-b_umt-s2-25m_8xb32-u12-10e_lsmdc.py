# Fine-tuned LSMDC 1000 retrieval, UMT-B from the official 25M stage-2 checkpoint (official recipe): 12 frames,
# VTC + VTM (no MLM, no masking, no teacher), 8 GPUs x 32, AdamW lr 2e-05 wd .02, 10 epochs (1 warmup), drop path
# 0.2, per-frame ITC averaged + top-128 ITM re-ranking. Official T2V R@1: 32.7.
_base_ = ['../../_base_/models/umt_stage2_retrieval.py', '../../_base_/datasets/lsmdc_ret.py',
          '../../_base_/schedules/umt_stage2_retrieval_ft.py']
model = dict(vision=dict(num_frames=12, drop_path_rate=0.2),
             tokenizer=dict(max_length={{_base_.max_txt_len}}))
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=2e-05))
val_cfg = dict(keep_temporal=True)
test_cfg = dict(keep_temporal=True)
