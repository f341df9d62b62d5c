# Runtime shared by every VideoFM config. VideoFM modules live in the `videofm` scope, which falls back
# to mmaction2 and MMEngine, so all their components resolve without a prefix.
default_scope = 'videofm'
custom_imports = dict(imports=['backbones', 'tasks'], allow_failed_imports=False)
# Scope-qualified: mmaction2's tools build the runner from mmaction's registry before any default scope is set.
runner_type = 'videofm.VideoFMRunner'  # MMEngine's Runner + atomic checkpoint files + checked loading

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='auto', max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    visualization=dict(type='VideoVisualizationHook', enable=False),
    epoch_seed=dict(type='EpochSeedHook'),  # --resume reproduces the uninterrupted run
    skipped_samples=dict(type='SkippedSamplesHook'),  # per-epoch report of unreadable videos skipped
    curves=dict(type='CurvesHook'))  # LOG_DIR/curves.png: losses per iteration, metrics per epoch

# A NaN / Inf training loss stops the step before it reaches the weights and names the last good checkpoint;
# policy='skip' skips and counts such steps (VideoFMRunner composes NonFiniteLossOptimWrapper with the
# config's optimiser wrapper; None turns the check off).
non_finite_loss = dict(policy='raise', max_consecutive_skips=20)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))  # tools/train.py switches to gloo on machines without CUDA

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None  # fine-tuning: the encoder must fit; a classifier head of another class count is dropped (logged)
# tools/test.py, --resume and the demos need every model weight from the checkpoint; True allows a deliberate
# partial load (tools/test.py --allow-partial-load), every unloaded key in the log.
allow_partial_load = False
resume = False
