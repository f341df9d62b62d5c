# UMT fine-tuning model (unmasked_teacher single_modality/run_class_finetuning.py): vit_recognizer.py with UMT's
# encoder (arch 'umt-base': tubelet 1, 8 frames, q/v bias; 'umt-large' for L), drop path .1, mean-pooled fc_norm,
# head init scale .001, mixup .8 / cutmix 1. / label smoothing .1 as VideoMAE V2. UMT's schedule is
# schedules/adamw_ld_cosine.py (layer decay .75 for B) with its own warmup (leaves set `warmup_epochs` and rebuild
# the two-entry list from _base_.param_scheduler). UMT scripts use 16 GPUs x batch 16 = 256 clips (num_sample 2 not
# counted), so the leaves set train_dataloader.batch_size=16 and their lr is used as given; the dataset base's
# umt_* pipelines (8 TSN segments; test 4x3 views, SSv2 2x3) are picked by the leaves, which name the dataset.
_base_ = ['./vit_recognizer.py']
model = dict(backbone=dict(arch='umt-base', drop_path_rate=0.1))
