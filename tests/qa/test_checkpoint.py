"""The official QA checkpoint layout loads into UMTQA (synthetic files with the official keys), and a stage-2
checkpoint initialises the answer decoder from the fusion layers (backbones.checkpoint QA converter)."""
import json

import pytest
import torch

import tasks  # noqa: F401
from backbones.checkpoint import PartialLoadError, convert_umt_qa_state_dict, stage2_to_qa_state_dict
from tasks.qa import UMTQA

VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'what', 'is', 'it', 'red', 'blue', 'left']
W = 32  # vision width == text width, as UMT-B / UMT-L (the decoder's cross-attention copies the fusion layers')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('qa_ckpt')
    (tmp / 'vocab.txt').write_text('\n'.join(VOCAB) + '\n')
    (tmp / 'answers.json').write_text(json.dumps(['red', 'blue', 'left']))
    return tmp


def build(files, **kw):
    torch.manual_seed(kw.pop('seed', 0))
    return UMTQA(vision=dict(img_size=32, patch_size=16, num_frames=2, tubelet_size=1, embed_dim=W, depth=1,
                             num_heads=2),
                 text=dict(vocab_size=16, hidden_size=W, num_hidden_layers=3, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=16, fusion_layer=2),
                 tokenizer=dict(path=str(files / 'vocab.txt'), max_length=8),
                 answer_list=str(files / 'answers.json'), **kw).eval()


def official_qa_state_dict(model):
    """What the reference saves for UMT_QA: ``text_encoder.*`` without ``bert.`` (a BertModel), ``text_decoder.*``
    (BertLMHeadModel: ``bert.`` + ``cls.``), the vision encoder, plus the transformers buffers of its time."""
    sd = {}
    for k, v in model.state_dict().items():
        if k.startswith('text_encoder.bert.'):
            k = 'text_encoder.' + k[len('text_encoder.bert.'):]
        sd[k] = v.clone()
    sd['text_encoder.embeddings.position_ids'] = torch.arange(16)[None]
    sd['text_decoder.bert.embeddings.position_ids'] = torch.arange(16)[None]
    return sd


def test_official_qa_checkpoint_loads_completely(files, tmp_path):
    src = build(files, seed=1)
    sd = official_qa_state_dict(src)
    assert any(k.startswith('text_encoder.encoder.layer.') for k in sd)  # official: 'bert.' stripped
    assert not any(k.startswith('text_encoder.bert.') for k in sd)
    assert {k.split('.')[1] for k in sd if k.startswith('text_decoder.')} == {'bert', 'cls'}
    path = tmp_path / 'qa_official.pth'
    torch.save({'model': sd, 'optimizer': {}, 'epoch': 3, 'global_step': 10}, path)
    dst = build(files, seed=2)
    report = dst.load_checkpoint(str(path))
    assert not report.missing
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    x = torch.randn(2, 3, 2, 32, 32)
    ids_a, p_a = src.rank(x, ['what is it', 'is it'])
    ids_b, p_b = dst.rank(x, ['what is it', 'is it'])
    assert torch.equal(ids_a, ids_b) and torch.allclose(p_a, p_b)


def test_missing_decoder_layer_is_refused(files, tmp_path):
    sd = official_qa_state_dict(build(files))
    del sd['text_decoder.bert.encoder.layer.0.crossattention.self.key.weight']
    torch.save({'model': sd}, tmp_path / 'cut.pth')
    with pytest.raises(PartialLoadError, match=r'not in the checkpoint \(1\): text_decoder.bert'):
        build(files).load_checkpoint(str(tmp_path / 'cut.pth'))


def stage2_state_dict(model):
    """A stage-2 checkpoint in VideoFM / official names: text_encoder.bert.*, the MLM head, projections, temp, ITM."""
    sd = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('text_decoder.')}
    sd.update({'text_encoder.cls.predictions.bias': torch.randn(16),
               'text_encoder.cls.predictions.transform.dense.weight': torch.randn(W, W),
               'text_encoder.cls.predictions.transform.dense.bias': torch.randn(W),
               'text_encoder.cls.predictions.transform.LayerNorm.weight': torch.randn(W),
               'text_encoder.cls.predictions.transform.LayerNorm.bias': torch.randn(W),
               'vision_proj.weight': torch.randn(8, W), 'vision_proj.bias': torch.randn(8),
               'text_proj.weight': torch.randn(8, W), 'text_proj.bias': torch.randn(8), 'temp': torch.tensor(0.07),
               'itm_head.weight': torch.randn(2, W), 'itm_head.bias': torch.randn(2),
               'vision_encoder.pool_norm.weight': torch.randn(W), 'vision_encoder.pool_norm.bias': torch.randn(W)})
    return sd


def test_stage2_checkpoint_initialises_the_decoder_from_the_fusion_layers(files, tmp_path):
    src = build(files, seed=3)
    sd = stage2_state_dict(src)
    torch.save({'model': sd}, tmp_path / 'stage2.pth')
    dst = build(files, seed=4)
    dst.load_checkpoint(str(tmp_path / 'stage2.pth'))
    got = dst.state_dict()
    # fusion layer 2 (of 3) -> decoder layer 0; embeddings and the MLM head copied
    for name in ('attention.self.query.weight', 'crossattention.self.key.weight', 'crossattention.output.dense.bias',
                 'intermediate.dense.weight', 'output.LayerNorm.weight'):
        assert torch.equal(got[f'text_decoder.bert.encoder.layer.0.{name}'],
                           sd[f'text_encoder.bert.encoder.layer.2.{name}'])
    assert torch.equal(got['text_decoder.bert.embeddings.word_embeddings.weight'],
                       sd['text_encoder.bert.embeddings.word_embeddings.weight'])
    assert torch.equal(got['text_decoder.cls.predictions.transform.dense.weight'],
                       sd['text_encoder.cls.predictions.transform.dense.weight'])
    assert torch.equal(got['text_decoder.cls.predictions.bias'], sd['text_encoder.cls.predictions.bias'])
    assert torch.equal(got['text_encoder.bert.encoder.layer.1.attention.self.key.weight'],
                       sd['text_encoder.bert.encoder.layer.1.attention.self.key.weight'])


def test_pure_converters():
    sd = {'text_encoder.bert.encoder.layer.0.attention.self.query.weight': torch.zeros(1),
          'text_encoder.bert.encoder.layer.9.crossattention.self.key.weight': torch.ones(1),
          'text_encoder.bert.encoder.layer.11.output.dense.bias': torch.full((1, ), 2.),
          'text_encoder.bert.embeddings.word_embeddings.weight': torch.full((1, ), 3.),
          'text_encoder.cls.predictions.bias': torch.full((1, ), 4.)}
    out = stage2_to_qa_state_dict(sd, fusion_layer=9)
    assert set(out) - set(sd) == {'text_decoder.bert.encoder.layer.0.crossattention.self.key.weight',
                                  'text_decoder.bert.encoder.layer.2.output.dense.bias',
                                  'text_decoder.bert.embeddings.word_embeddings.weight',
                                  'text_decoder.cls.predictions.bias'}
    assert out['text_decoder.bert.encoder.layer.2.output.dense.bias'].item() == 2.
    official = {'vision_encoder.encoder.patch_embed.proj.weight': torch.zeros(1),
                'text_encoder.encoder.layer.0.attention.self.query.weight': torch.zeros(1),
                'text_encoder.embeddings.LayerNorm.gamma': torch.ones(1),
                'text_decoder.bert.encoder.layer.0.attention.self.query.weight': torch.zeros(1)}
    out, report = convert_umt_qa_state_dict({'model': official}, fusion_layer=9)
    assert set(out) == {'vision_encoder.encoder.patch_embed.proj.weight',
                        'text_encoder.bert.encoder.layer.0.attention.self.query.weight',
                        'text_encoder.bert.embeddings.LayerNorm.weight',
                        'text_decoder.bert.encoder.layer.0.attention.self.query.weight'}
