_base_ = ['./vmaev2-vit-b-p16_scratch_32xb32-16x4x1-200e_hybrid.py']
model = dict(encoder=dict(arch='large'))  # decoder 512 / 8 heads
