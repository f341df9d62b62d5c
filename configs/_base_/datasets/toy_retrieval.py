# Toy video-text retrieval (tasks/toy_data/retrieval.py; tools/data/make_toy.py retrieval): 32 x 32 clips of 8
# frames at 8 fps, one small or big square or disc of 5 colours moving right / up / left / down, captioned ("a big
# red disc moves left"). Training: 320 clips with two captions each (caption_mode 'multi'); validation: 40 clips, every
# description once (chance R@1 = 2.5%). Generated on first use (a few seconds). No flip (it would swap left and
# right); 4 of the 8 frames per clip.
dataset_type = 'ToyRetrievalDataset'
data_root = 'data/toy_retrieval'
toy = dict(root=data_root, num_train=320, num_val=40, num_frames=8, size=32, fps=8, seed=0)
# The WordPiece vocabulary the generator also writes to {data_root}/vocab.txt (the same file, kept here so the
# model can be built before the data exist)
vocab_file = '{{ fileDirname }}/toy_retrieval_vocab.txt'
img_size = 32
clip_len = 4
train_pipeline = [
    dict(type='DecordInit', num_threads=1),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackRetrievalInputs'),
]
test_pipeline = [
    dict(type='DecordInit', num_threads=1),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackRetrievalInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, toy=toy, ann_file=f'{data_root}/train.json', caption_mode='multi',
                 data_prefix=dict(video=data_root), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=20,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, toy=toy, ann_file=f'{data_root}/val.json', caption_mode='single',
                 data_prefix=dict(video=data_root), pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_cfg = dict(type='RetrievalValLoop', k_test=128)
test_cfg = dict(type='RetrievalTestLoop', k_test=128)
val_evaluator = dict(type='RetrievalMetric')
test_evaluator = val_evaluator
