_base_ = ['./videomaev2_vit-base-p16_scratch_200e_hybrid.py']
model = dict(encoder=dict(arch='small'))  # decoder 192 / 3 heads
