_base_ = ['./videomaev2_vit-base-p16_scratch_200e_hybrid.py']
model = dict(encoder=dict(arch='huge', with_cp=True), decoder_with_cp=True)  # decoder 512 / 8 heads
