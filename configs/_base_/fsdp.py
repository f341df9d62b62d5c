# Fully sharded data parallel training (torch FSDP2) for any VideoFM config: inherit this file last
#   _base_ = ['./vit-b-p16_..._k400.py', '../../_base_/fsdp.py']
# or give the same from the command line:
#   bash tools/dist_train.sh CONFIG 8 --cfg-options model_wrapper_cfg.type=videofm.VideoFMFSDP
# It needs a distributed launcher (tools/dist_train.sh, torchrun ... --launcher pytorch, Slurm); a single-process
# run (launcher none) trains the plain model. Checkpoints become directories (work_dir/epoch_N.pth/) saved by
# every rank with torch.distributed.checkpoint; --resume reads them, tools/merge_checkpoint.py merges one into a
# single file for tools/test.py. See tasks/engine/fsdp.py.
model_wrapper_cfg = dict(
    type='videofm.VideoFMFSDP',
    shard_modules=('Block', 'BertLayer'),  # sharding units: transformer blocks (encoder, decoder, BERT layers)
    mixed_precision=None,  # 'bf16': bf16 compute, fp32 gradient reduction and master weights
    activation_checkpointing=False,  # recompute every block in backward
    reshard_after_forward=True)  # False: keep gathered parameters until backward (more memory, less traffic)
