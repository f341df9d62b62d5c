# Zero-shot MSR-VTT 1k-A retrieval with the official UMT-B stage-2 checkpoint (25M corpus): 4 frames, per-frame ITC
# similarities averaged, top 128 re-ranked by ITM. Official T2V R@1: 35.2.
#   python tools/test.py THIS_CONFIG checkpoints/umt/b16_25m.pth
_base_ = ['../../_base_/default_runtime.py', '../../_base_/models/umt_stage2_retrieval.py',
          '../../_base_/datasets/msrvtt_ret.py']
model = dict(vision=dict(num_frames=4, drop_path_rate=0.), tokenizer=dict(max_length={{_base_.max_txt_len}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline_u4}}))
test_cfg = dict(keep_temporal=True)
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
val_dataloader = val_cfg = val_evaluator = None
