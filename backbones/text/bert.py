"""transformers' BERT as the UMT stage-2 text encoder, with cross-attention in the fusion layers only.

Layout (the official ``text_encoder`` key names, ALBEF / UMT ``xbert``): a ``BertForMaskedLM`` whose
``bert.encoder.layer[:fusion_layer]`` are plain text layers and ``bert.encoder.layer[fusion_layer:]`` are
transformers ``BertLayer`` s with a ``crossattention`` block whose key / value take the vision width
(``config.encoder_width``; transformers' own cross-attention takes ``hidden_size``, so those two Linear layers
are replaced). ``cls.predictions`` is the MLM head, tied to the word embeddings as in BERT.

Nothing is downloaded: tokenizers come from a local ``vocab.txt`` or a saved tokenizer directory
(:func:`build_tokenizer`), weights from a local transformers BERT directory (:func:`build_text_encoder`).
"""
import copy
import logging
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from torch import nn
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast
from transformers.models.bert.modeling_bert import BertLayer

from ..presets import get_text_preset

__all__ = ['UMTBertForMaskedLM', 'build_text_encoder', 'build_tokenizer', 'fusion_layer_names', 'mask_tokens',
           'special_token_mask']

# BertConfig sizes a text config may set explicitly (the rest of BertConfig's arguments pass through too)
SIZE_KEYS = ('vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size',
             'max_position_embeddings')
_REQUIRED_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
TOKENIZER_HINT = ("pass tokenizer=dict(path=...) with a local BERT vocab.txt (e.g. bert-base-uncased's) or a "
                  'directory saved with transformers (tokenizer.save_pretrained); nothing is downloaded')


class UMTBertForMaskedLM(BertForMaskedLM):
    """``BertForMaskedLM`` whose layers from ``config.fusion_layer`` on cross-attend to vision tokens of width
    ``config.encoder_width``.

    Args:
        config (BertConfig): A BERT config with two extra attributes: ``fusion_layer`` (int, first fusion layer,
            0 < fusion_layer < num_hidden_layers) and ``encoder_width`` (int, width of the vision tokens).
    """

    def __init__(self, config: BertConfig):
        for name in ('fusion_layer', 'encoder_width'):
            if getattr(config, name, None) is None:
                raise ValueError(f'UMTBertForMaskedLM needs config.{name}')
        if not 0 < config.fusion_layer < config.num_hidden_layers:
            raise ValueError(f'fusion_layer must be in 1..{config.num_hidden_layers - 1} (num_hidden_layers '
                             f'{config.num_hidden_layers}), got {config.fusion_layer}')
        super().__init__(config)
        cross = copy.deepcopy(self.config)
        cross.is_decoder, cross.add_cross_attention = True, True  # transformers builds crossattention only so
        for i in range(config.fusion_layer, config.num_hidden_layers):
            layer = BertLayer(cross, layer_idx=i)
            layer.attention.self.is_decoder = False  # bidirectional self-attention, as the official fusion layers
            attn = layer.crossattention.self
            attn.key = nn.Linear(config.encoder_width, attn.all_head_size)
            attn.value = nn.Linear(config.encoder_width, attn.all_head_size)
            layer.apply(self._init_weights)
            self.bert.encoder.layer[i] = layer

    @property
    def fusion_layer(self) -> int:
        return self.config.fusion_layer

    def text_layers(self) -> nn.ModuleList:
        """The text-only layers ``[0, fusion_layer)``."""
        return self.bert.encoder.layer[:self.config.fusion_layer]

    def fusion_layers(self) -> nn.ModuleList:
        """The cross-attention layers ``[fusion_layer, num_hidden_layers)``."""
        return self.bert.encoder.layer[self.config.fusion_layer:]

    def extended_mask(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(N, L) 1 / 0 padding mask -> additive (N, 1, 1, L) mask (0 keep, dtype min masked) for the layers."""
        return self.get_extended_attention_mask(attention_mask, attention_mask.shape, dtype=dtype)

    def forward_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Embeddings + text-only layers. (N, L) ids and mask -> (N, L, C)."""
        x = self.bert.embeddings(input_ids=input_ids)
        ext = self.extended_mask(attention_mask, x.dtype)
        for layer in self.text_layers():
            x = layer(x, attention_mask=ext)[0]
        return x

    def forward_fusion(self, text_tokens: torch.Tensor, attention_mask: torch.Tensor,
                       vision_tokens: torch.Tensor,
                       vision_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Fusion layers: self-attention over the text, cross-attention to every vision token.

        Args:
            text_tokens (Tensor): (N, L, C) output of :meth:`forward_text`.
            attention_mask (Tensor): (N, L) text padding mask (1 keep).
            vision_tokens (Tensor): (N, Lv, Cv) tokens to attend to.
            vision_mask (Tensor, optional): (N, Lv) 1 / 0 mask of the vision tokens; None = all.

        Returns:
            Tensor: (N, L, C) multimodal tokens.
        """
        x = text_tokens
        ext = self.extended_mask(attention_mask, x.dtype)
        enc_ext = self.invert_attention_mask(vision_mask) if vision_mask is not None else None
        for layer in self.fusion_layers():
            x = layer(x, attention_mask=ext, encoder_hidden_states=vision_tokens,
                      encoder_attention_mask=enc_ext)[0]
        return x


def fusion_layer_names(num_hidden_layers: int, fusion_layer: int) -> List[str]:
    """State-dict prefixes (under ``bert.``) of the cross-attention blocks, fresh when a plain BERT is loaded."""
    return [f'encoder.layer.{i}.crossattention.' for i in range(fusion_layer, num_hidden_layers)]


def _resolve_text_cfg(text: dict) -> Tuple[dict, Optional[str], int, dict]:
    text = dict(text)
    arch = text.pop('arch', None)
    pretrained = text.pop('pretrained', None)
    sizes = get_text_preset(arch) if arch is not None else {}
    fusion_layer = text.pop('fusion_layer', sizes.pop('fusion_layer', None))
    sizes.update({k: text.pop(k) for k in SIZE_KEYS if k in text})
    if fusion_layer is None:
        raise ValueError("text config needs fusion_layer (or arch='bert-base' / 'bert-large')")
    return sizes, pretrained, int(fusion_layer), text


def build_text_encoder(text: dict, vision_width: int) -> UMTBertForMaskedLM:
    """Build the stage-2 text encoder from a config.

    Args:
        text (dict): ``arch`` (``'bert-base'`` / ``'bert-large'`` of :data:`backbones.presets.TEXT_PRESETS`), sizes
            (``vocab_size``, ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``,
            ``intermediate_size``, ``max_position_embeddings``; explicit ones win over the preset),
            ``fusion_layer``, ``gradient_checkpointing`` (bool, training only; outputs and gradients unchanged),
            any other ``BertConfig`` argument (``hidden_dropout_prob``...), and ``pretrained``:
            a local transformers BERT directory (``config.json`` + ``model.safetensors`` / ``pytorch_model.bin``,
            bert-base-uncased layout). Its weights load into the embeddings, every layer's self-attention and
            feed-forward and the MLM head; the cross-attention blocks of the fusion layers
            (:func:`fusion_layer_names`) stay freshly initialised, as in the official stage-2 start. Sizes given
            with ``pretrained`` must equal the directory's.
        vision_width (int): Width of the vision tokens (cross-attention key / value input).

    Raises:
        FileNotFoundError: ``pretrained`` is not a directory with ``config.json``.
        ValueError: Missing sizes, sizes disagreeing with ``pretrained``, or a BERT directory missing weights
            other than the cross-attention blocks.
    """
    sizes, pretrained, fusion_layer, extra = _resolve_text_cfg(text)
    checkpointing = extra.pop('gradient_checkpointing', False)
    model = _build(sizes, pretrained, fusion_layer, extra, vision_width)
    if checkpointing:  # transformers' own activation checkpointing of every BertLayer (official: on)
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
    return model


def _build(sizes: dict, pretrained: Optional[str], fusion_layer: int, extra: dict,
           vision_width: int) -> UMTBertForMaskedLM:
    if pretrained is None:
        missing = [k for k in SIZE_KEYS if k not in sizes]
        if missing:
            raise ValueError(f"text config lacks {missing}: give arch='bert-base' / 'bert-large', the sizes, or "
                             f'pretrained=LOCAL_BERT_DIR')
        config = BertConfig(**sizes, **extra)
        config.fusion_layer, config.encoder_width = fusion_layer, vision_width
        return UMTBertForMaskedLM(config)
    path = Path(pretrained)
    if not (path / 'config.json').is_file():
        raise FileNotFoundError(f'text=dict(pretrained={str(path)!r}): not a local transformers BERT directory '
                                f'(no config.json there); save one with BertForMaskedLM.save_pretrained(DIR) or '
                                f'point it to a downloaded bert-base-uncased folder; nothing is downloaded')
    config = BertConfig.from_pretrained(str(path), local_files_only=True)
    wrong = {k: (v, getattr(config, k)) for k, v in sizes.items() if getattr(config, k) != v}
    if wrong:
        raise ValueError(f'text=dict(pretrained={str(path)!r}): its config.json disagrees with the configured sizes '
                         f'(configured vs file): {wrong}')
    for k, v in extra.items():
        setattr(config, k, v)
    config.fusion_layer, config.encoder_width = fusion_layer, vision_width
    model, info = UMTBertForMaskedLM.from_pretrained(str(path), config=config, local_files_only=True,
                                                     output_loading_info=True)
    fresh = tuple(f'bert.{p}' for p in fusion_layer_names(config.num_hidden_layers, fusion_layer))
    bad = [k for k in info['missing_keys'] if not k.startswith(fresh)]
    mismatched = [str(m) for m in info.get('mismatched_keys', [])]
    if bad or mismatched:
        raise ValueError(f'text=dict(pretrained={str(path)!r}) does not fit the text encoder: missing {bad[:8]}'
                         f'{" ..." if len(bad) > 8 else ""}, wrong shape {mismatched[:4]}')
    print_log(f'text encoder: loaded {path}; cross-attention of layers {fusion_layer}..'
              f'{config.num_hidden_layers - 1} ({len(info["missing_keys"])} tensors) freshly initialised; '
              f'unused: {sorted(info["unexpected_keys"])[:6]}', logger='current', level=logging.INFO)
    return model


# ----------------------------------------------------------------------------------------------- tokenizer
def build_tokenizer(path: Optional[Union[str, Path]], do_lower_case: bool = True) -> BertTokenizerFast:
    """A BERT WordPiece tokenizer from a local path only.

    Args:
        path (str | Path): A ``vocab.txt`` (one token a line) or a directory saved with transformers
            (``tokenizer.json`` or ``vocab.txt`` inside).
        do_lower_case (bool): For a bare ``vocab.txt`` (uncased BERT: True). A saved directory keeps its own.

    Raises:
        ValueError: ``path`` is None, or the file / directory is not a BERT tokenizer (names what is missing).
        FileNotFoundError: Nothing at ``path``.
    """
    if path is None or path == '':
        raise ValueError(f'UMTStage2 needs a tokenizer: {TOKENIZER_HINT}')
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f'tokenizer path {str(p)!r} does not exist: {TOKENIZER_HINT}')
    if p.is_dir():
        if not any((p / f).is_file() for f in ('tokenizer.json', 'vocab.txt')):
            raise ValueError(f'tokenizer path {str(p)!r} is a directory without tokenizer.json or vocab.txt: '
                             f'{TOKENIZER_HINT}')
        try:
            tok = BertTokenizerFast.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f'tokenizer path {str(p)!r}: transformers cannot read it as a BERT tokenizer ({e}); '
                             f'{TOKENIZER_HINT}') from e
    else:
        try:
            vocab = p.read_text(encoding='utf-8').splitlines()
        except UnicodeDecodeError as e:
            raise ValueError(f'tokenizer path {str(p)!r} is not a text vocab file ({e}): {TOKENIZER_HINT}') from e
        lacking = [t for t in _REQUIRED_TOKENS if t not in set(vocab)]
        if lacking:
            raise ValueError(f'tokenizer path {str(p)!r} is not a BERT vocab.txt: it lacks the special tokens '
                             f'{lacking} ({len(vocab)} lines); {TOKENIZER_HINT}')
        tok = BertTokenizerFast(vocab_file=str(p), do_lower_case=do_lower_case)
    lacking = [n for n in ('pad_token_id', 'cls_token_id', 'sep_token_id', 'mask_token_id')
               if getattr(tok, n) is None]
    if lacking:
        raise ValueError(f'tokenizer at {str(p)!r} has no {lacking}: not a BERT tokenizer; {TOKENIZER_HINT}')
    return tok


# --------------------------------------------------------------------------------------------------- MLM
def special_token_mask(input_ids: torch.Tensor, special_ids: Sequence[int]) -> torch.Tensor:
    """(N, L) bool, True at special tokens ([PAD], [CLS], [SEP], [MASK], [UNK]...)."""
    ids = torch.as_tensor(list(special_ids), dtype=input_ids.dtype, device=input_ids.device)
    return torch.isin(input_ids, ids)


def mask_tokens(input_ids: torch.Tensor, special: torch.Tensor, vocab_size: int, mask_token_id: int,
                prob: float = 0.5, generator: Optional[torch.Generator] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """BERT / UMT MLM corruption: each non-special token is chosen with probability ``prob``; a chosen token
    becomes [MASK] with probability .8, a uniformly random id of the vocabulary with .1, stays with .1.

    Args:
        input_ids (Tensor): (N, L) int64.
        special (Tensor): (N, L) bool, True = never chosen (:func:`special_token_mask`).
        vocab_size (int): Range of the random replacement ids.
        mask_token_id (int): [MASK].
        prob (float): Probability to choose a token (UMT: 0.5).
        generator (torch.Generator, optional): On ``input_ids``' device.

    Returns:
        tuple: corrupted ids (N, L) and labels (N, L): the original id where chosen, -100 elsewhere.
    """
    if not 0. <= prob <= 1.:
        raise ValueError(f'mlm_prob must be in [0, 1], got {prob}')
    dev = input_ids.device

    def draw(p):
        return torch.rand(input_ids.shape, device=dev, generator=generator) < p

    chosen = draw(prob) & ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    to_mask = draw(0.8) & chosen
    to_random = draw(0.5) & chosen & ~to_mask
    random_ids = torch.randint(vocab_size, input_ids.shape, device=dev, generator=generator, dtype=input_ids.dtype)
    out = torch.where(to_mask, torch.full_like(input_ids, mask_token_id), input_ids)
    out = torch.where(to_random, random_ids, out)
    return out, labels
