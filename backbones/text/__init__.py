"""Text towers for the video-language models: transformers' BERT with cross-attention fusion layers, local-only
tokenizers and MLM masking (:mod:`backbones.text.bert`)."""
from .bert import (UMTBertForMaskedLM, build_text_encoder, build_tokenizer, fusion_layer_names, mask_tokens,
                   special_token_mask)

__all__ = ['UMTBertForMaskedLM', 'build_text_encoder', 'build_tokenizer', 'fusion_layer_names', 'mask_tokens',
           'special_token_mask']
