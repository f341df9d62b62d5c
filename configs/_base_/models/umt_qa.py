# UMT video QA model (official unmasked_teacher multi_modality UMT_QA, exp/finetuning/qa_*): the stage-2 model's
# vision encoder (12 frames, 224 px, tubelet 1) and text encoder as question encoder, a BertLMHeadModel answer
# decoder of text layers - fusion_layer layers (3 for BERT-base, 5 for BERT-large) initialised from the fusion
# layers, questions of 25 tokens, answers of 5, top-128 answer ranking. Weights: an official (or VideoFM) stage-2
# checkpoint, e.g. b16_25m.pth; only the tokenizer vocabulary is read from bert_dir (no BERT weights are needed:
# the stage-2 checkpoint holds them). Leaves set the answer list of their dataset base (model.answer_list).
stage2_checkpoint = 'checkpoints/umt/b16_25m.pth'
bert_vocab = 'checkpoints/bert-base-uncased/vocab.txt'
model = dict(
    type='UMTQA',
    vision=dict(arch='umt2-base', num_frames=12, img_size=224, drop_path_rate=0.2),
    text=dict(arch='bert-base'),
    tokenizer=dict(path=bert_vocab, max_length=25),  # max_q_len 25
    answer_list=None,
    max_answer_len=5,  # max_a_len 5
    k_test=128,
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'),
    init_cfg=dict(type='Pretrained', checkpoint=stage2_checkpoint))
