# Video QA / MC pipelines of the official UMT fine-tuning (multi_modality/dataset/__init__.py): 12 frames, one per
# segment ('rand' in training: UniformSample picks a random frame of each segment; 'middle' in testing: the
# middle frame), RandomResizedCrop(224, scale (0.5, 1), bicubic) + horizontal flip for training, a bicubic resize
# to 224 x 224 for testing. Dataset bases pick them and set their files.
num_frames = 12
img_size = 224
qa_fields = dict(type='PackQAInputs')
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False, interpolation='bicubic'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    qa_fields,
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False, interpolation='bicubic'),
    dict(type='FormatShape', input_format='NCTHW'),
    qa_fields,
]
# multiple choice: retrieval samples for training, MC samples for testing
mc_train_pipeline = train_pipeline[:-1] + [dict(type='PackRetrievalInputs')]
mc_test_pipeline = test_pipeline[:-1] + [dict(type='PackMCInputs')]
