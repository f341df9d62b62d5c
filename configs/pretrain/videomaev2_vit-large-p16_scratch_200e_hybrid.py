_base_ = ['./videomaev2_vit-base-p16_scratch_200e_hybrid.py']
model = dict(encoder=dict(arch='large'))  # decoder 512 / 8 heads
