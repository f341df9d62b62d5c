# Stage-2 / retrieval pipelines (official UMT): training clips sample one random frame in each of `clip_len`
# segments ("rand"), testing the middle frame of each ("middle"); RandomResizedCrop(224, scale .5-1) + flip in
# training, a 224 x 224 resize (no crop) in testing; ImageNet mean / std in the model's data preprocessor.
# Image-text pairs are 1-frame clips (LoadImageAsClip). Fine-tuning uses 12 frames (train_pipeline /
# test_pipeline), stage-2 pretraining and zero-shot evaluation 4 (the *_u4 twins).
img_size = 224
clip_len = 12
clip_len_test = 12
train_pipeline = [
    dict(type='DecordInit', num_threads=4),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False, interpolation='bicubic'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackRetrievalInputs'),
]
image_train_pipeline = [
    dict(type='LoadImageAsClip'),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False, interpolation='bicubic'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackRetrievalInputs'),
]
test_pipeline = [
    dict(type='DecordInit', num_threads=4),
    dict(type='UniformSample', clip_len=clip_len_test, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False, interpolation='bicubic'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackRetrievalInputs'),
]


def _frames(pipeline, n):
    return [dict(t, clip_len=n) if t['type'] == 'UniformSample' else t for t in pipeline]


train_pipeline_u4 = _frames(train_pipeline, 4)
test_pipeline_u4 = _frames(test_pipeline, 4)
