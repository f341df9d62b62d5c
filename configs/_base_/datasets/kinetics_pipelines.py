# Pipelines of the official fine-tuning recipes (Kinetics-style data; SSv2 has its own in sthv2.py).
# Every test pipeline decodes each video once: SampleFrames/UniformSample put the frame indices of all
# clips into one array and DecordDecode reads them with a single VideoReader.get_batch call; ThreeCrop then
# cuts the crops from those frames (the official test decodes the video again for every one of the views).
img_size = 224
# ImageNet mean/std in 0..255: RandomErasing fills with N(mean, std) per pixel = timm mode 'pixel' applied
# after normalisation in the official code; one rectangle through all frames of the clip.
_erase = dict(type='RandomErasing', erase_prob=0.25, mode='rand', fill_color=(123.675, 116.28, 103.53),
              fill_std=(58.395, 57.12, 57.375))
_train_tail = [
    dict(type='VideoRandAugment', magnitude=7, num_layers=4, magnitude_std=0.5),  # rand-m7-n4-mstd0.5-inc1
    dict(type='RandomResizedCrop', area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False, interpolation='bicubic'),
    dict(type='Flip', flip_ratio=0.5),
    _erase,
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
_test_tail = [
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='ThreeCrop', crop_size=img_size),  # 3 spatial views along the long side
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
_val_tail = [
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]

# VideoMAE V2: dense 16 frames with stride 4; test 5 clips x 3 crops (videomaev2.md "Test").
# RepeatAugDataset needs [DecordInit, sampler, DecordDecode, ...] in this order.
train_pipeline = [dict(type='DecordInit'), dict(type='SampleFrames', clip_len=16, frame_interval=4, num_clips=1),
                  dict(type='DecordDecode'), *_train_tail]
val_pipeline = [dict(type='DecordInit'),
                dict(type='SampleFrames', clip_len=16, frame_interval=4, num_clips=1, test_mode=True),
                dict(type='DecordDecode'), *_val_tail]
test_pipeline = [dict(type='DecordInit'),
                 dict(type='SampleFrames', clip_len=16, frame_interval=4, num_clips=5, test_mode=True),
                 dict(type='DecordDecode'), *_test_tail]

# UMT ('Kinetics_sparse'): 8 frames, one per segment (TSN); test 4 temporal views x 3 crops (umt.md).
umt_train_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=8), dict(type='DecordDecode'),
                      *_train_tail]
umt_val_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=8, num_clips=1, test_mode=True),
                    dict(type='DecordDecode'), *_val_tail]
umt_test_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=8, num_clips=4, test_mode=True),
                     dict(type='DecordDecode'), *_test_tail]
# UMT at 16 frames (the official f16 scripts): 16 segments; test 4 temporal views x 1 centre crop
# (test_num_crop 1).
umt16_train_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=16), dict(type='DecordDecode'),
                        *_train_tail]
umt16_val_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=16, num_clips=1, test_mode=True),
                      dict(type='DecordDecode'), *_val_tail]
umt16_test_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=16, num_clips=4, test_mode=True),
                       dict(type='DecordDecode'), *_val_tail]

# SSv2 (no flip: left/right matters for its classes). VideoMAE V2: TSN 16 segments, test 2 x 3 views.
_ssv2_tail = [t for t in _train_tail if t['type'] != 'Flip']
ssv2_train_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=16), dict(type='DecordDecode'),
                       *_ssv2_tail]
ssv2_val_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=16, num_clips=1, test_mode=True),
                     dict(type='DecordDecode'), *_val_tail]
ssv2_test_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=16, num_clips=2, test_mode=True),
                      dict(type='DecordDecode'), *_test_tail]
# UMT on SSv2: 8 segments, test 2 x 3 views.
umt_ssv2_train_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=8),
                           dict(type='DecordDecode'), *_ssv2_tail]
umt_ssv2_val_pipeline = umt_val_pipeline
umt_ssv2_test_pipeline = [dict(type='DecordInit'), dict(type='UniformSample', clip_len=8, num_clips=2,
                                                          test_mode=True), dict(type='DecordDecode'), *_test_tail]


# The same pipelines on rawframe folders (mmaction2's RawframeDataset lists, see kinetics400_rawframes.py):
# no DecordInit, CheckedRawFrameDecode (RawFrameDecode that names a missing or corrupt frame file) instead of
# DecordDecode. The *_rawframes.py dataset bases rebind the names above to these, so a leaf config that picks
# e.g. {{_base_.umt_train_pipeline}} reads rawframes once its dataset base is a rawframe one.
def _rawframes(pipeline):
    return [dict(type='CheckedRawFrameDecode') if t['type'] == 'DecordDecode' else t for t in pipeline
            if t['type'] != 'DecordInit']


rawframe_train_pipeline = _rawframes(train_pipeline)
rawframe_val_pipeline = _rawframes(val_pipeline)
rawframe_test_pipeline = _rawframes(test_pipeline)
rawframe_umt_train_pipeline = _rawframes(umt_train_pipeline)
rawframe_umt_val_pipeline = _rawframes(umt_val_pipeline)
rawframe_umt_test_pipeline = _rawframes(umt_test_pipeline)
rawframe_umt16_train_pipeline = _rawframes(umt16_train_pipeline)
rawframe_umt16_val_pipeline = _rawframes(umt16_val_pipeline)
rawframe_umt16_test_pipeline = _rawframes(umt16_test_pipeline)
rawframe_ssv2_train_pipeline = _rawframes(ssv2_train_pipeline)
rawframe_ssv2_val_pipeline = _rawframes(ssv2_val_pipeline)
rawframe_ssv2_test_pipeline = _rawframes(ssv2_test_pipeline)
rawframe_umt_ssv2_train_pipeline = _rawframes(umt_ssv2_train_pipeline)
rawframe_umt_ssv2_val_pipeline = _rawframes(umt_ssv2_val_pipeline)
rawframe_umt_ssv2_test_pipeline = _rawframes(umt_ssv2_test_pipeline)
