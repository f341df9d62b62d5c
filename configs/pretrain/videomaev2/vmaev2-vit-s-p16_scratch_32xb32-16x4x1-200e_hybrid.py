_base_ = ['./vmaev2-vit-b-p16_scratch_32xb32-16x4x1-200e_hybrid.py']
model = dict(encoder=dict(arch='small'))  # decoder 192 / 3 heads
