"""The generative answer decoder: transformers' ``BertLMHeadModel`` (causal self-attention + cross-attention to the
fused question states + the LM head), as the reference's ``build_bert_decoder``.

The reference builds the decoder from the text encoder's BERT config with ``num_hidden_layers = layers -
fusion_layer`` (3 for BERT-base with ``fusion_layer=9``, 5 for BERT-large with 19) and initialises it from the text
encoder: embeddings, the fusion layers (layer ``fusion_layer + i`` -> decoder layer ``i``: self-attention,
cross-attention, feed-forward) and the MLM head (:func:`backbones.checkpoint.stage2_to_qa_state_dict`). The
cross-attention reads the question states, whose width is the text width (the reference's ``encoder_width`` is the
vision width, equal to the text width for UMT-B and UMT-L).
"""
import copy

from torch import Tensor, nn

__all__ = ['build_answer_decoder', 'decoder_logits']


def build_answer_decoder(text_config, num_layers: int) -> nn.Module:
    """A ``BertLMHeadModel`` with the text encoder's sizes, ``num_layers`` layers, causal, with cross-attention.

    Args:
        text_config (transformers.BertConfig | dict): The text encoder's BERT config (vocabulary, width, heads,
            feed-forward size, positions, dropout); copied, not modified.
        num_layers (int): Decoder layers (the reference: text layers - fusion_layer).

    Returns:
        transformers.BertLMHeadModel: Output embeddings tied to the input embeddings (as the reference).
    """
    from transformers import BertConfig, BertLMHeadModel
    if num_layers < 1:
        raise ValueError(f'the answer decoder needs at least 1 layer, got {num_layers}')
    cfg = BertConfig(**text_config) if isinstance(text_config, dict) else copy.deepcopy(text_config)
    cfg.num_hidden_layers = int(num_layers)
    cfg.is_decoder = True
    cfg.add_cross_attention = True
    cfg.tie_word_embeddings = True
    for extra in ('fusion_layer', 'encoder_width'):  # the stage-2 encoder's own fields: not the decoder's
        if hasattr(cfg, extra):
            delattr(cfg, extra)
    return BertLMHeadModel(cfg)


def decoder_logits(decoder: nn.Module, input_ids: Tensor, attention_mask: Tensor, states: Tensor,
                   states_mask: Tensor) -> Tensor:
    """Run the decoder; the :data:`tasks.qa.ranking.DecoderFn` signature.

    Args:
        decoder (nn.Module): A ``BertLMHeadModel`` with cross-attention.
        input_ids (Tensor): [N, La] answer tokens (start token first).
        attention_mask (Tensor): [N, La].
        states (Tensor): [N, Lq, C] question states.
        states_mask (Tensor): [N, Lq].

    Returns:
        Tensor: [N, La, V] logits (position ``t`` predicts token ``t + 1``).
    """
    return decoder(input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=states,
                   encoder_attention_mask=states_mask, use_cache=False, return_dict=True).logits


