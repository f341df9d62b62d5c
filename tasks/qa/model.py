"""QA models on the UMT stage-2 model (:class:`backbones.UMTStage2`).

:class:`UMTQA` (open-ended, the reference's ``UMT_QA``): the question is encoded by the stage-2 text encoder over
the video (text layers, then the fusion layers cross-attending to every vision token: the fused question states);
an answer decoder (:func:`tasks.qa.decoder.build_answer_decoder`, 3 layers for BERT-base / 5 for BERT-large,
initialised from the fusion layers) is trained with teacher forcing on the answer
(``loss = sum_answers weight * -log p(answer) / batch``) and at inference ranks the fixed answer list
(:func:`tasks.qa.ranking.rank_answers`: top ``k_test`` = 128 answers by first-token probability, then their full
likelihood, batched on the device). As the reference, the QA model has no projections, ``temp``, ITM / MLM heads or
``pool_norm`` (deleted after the stage-2 constructor), so an official fine-tuned QA checkpoint loads completely.

:class:`UMTMultipleChoice` (MSRVTT-MC): the stage-2 model itself (trained as retrieval: VTC + VTM), whose
prediction scores each of the ``n`` options with :func:`tasks.qa.mc.mc_scores`
(``0.7 * softmax(ITM)[match] + 0.3 * softmax_n(ITC / temperature)``, per-frame ITC similarities averaged as the
reference's ``keep_temporal`` evaluation).

``ToyUMTQA`` / ``ToyUMTMultipleChoice`` generate the toy QA set first (its tokenizer vocabulary and answer list are
read when the model is built, before any dataset), then build the model.
"""
from functools import partial
from typing import Dict, List, Optional

import torch
from mmengine.logging import print_log

from backbones.checkpoint import (LoadReport, PartialLoadError, _strip_wrappers, check_load, convert_umt_qa_state_dict,
                                  detect_format, load_checkpoint_file, unwrap_checkpoint)
from backbones.registry import MODELS
from backbones.umt_stage2 import UMTStage2
from backbones.video_vit import one_clip_per_sample
from .answers import EOS, load_answer_list, tokenize_answers
from .decoder import build_answer_decoder, decoder_logits
from .mc import ITM_WEIGHT, mc_scores
from .ranking import rank_answers, sequence_log_likelihood

__all__ = ['UMTQA', 'UMTMultipleChoice', 'ToyUMTQA', 'ToyUMTMultipleChoice']

_NO_PRETRAINING = dict(mask_ratio=dict(video=0., image=0.), mask_type='random', teacher=None)


def _field(sample, name: str, i: int, model: str, packer: str):
    if name not in sample:
        raise KeyError(f'{model}: data sample {i} has no {name!r} (packed by {packer})')
    return getattr(sample, name)


@MODELS.register_module()
class UMTQA(UMTStage2):
    """Open-ended video QA: stage-2 question encoder + generative answer decoder ranking a fixed answer list.

    Args:
        vision (dict): VideoViT arguments (``arch='umt2-base'`` / ``'umt2-large'``, ``num_frames``,
            ``drop_path_rate``, ...), as :class:`~backbones.UMTStage2`.
        text (dict): The BERT text encoder (``arch``, ``fusion_layer``, ``pretrained``...), as UMTStage2.
        tokenizer (dict): ``path`` (local vocab) and ``max_length``: the question length (25 in the reference).
        answer_list (str): The answer-list JSON (:func:`tasks.qa.answers.load_answer_list`), ranked at inference.
        max_answer_len (int): Answer token length (5, the reference's ``max_a_len``).
        k_test (int): Answers kept by first-token probability before the full-likelihood ranking (128).
        eos (str): Appended to every answer (``'[SEP]'``).
        decoder_layers (int, optional): Decoder depth; default text layers - ``fusion_layer`` (3 B / 5 L).
        rank_chunk (int, optional): Sequences per decoder call when ranking (bounds memory); None: one call.
        data_preprocessor (dict, optional): ``ActionDataPreprocessor``.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)``: an official / VideoFM stage-2
            checkpoint (the decoder is initialised from the fusion layers) or a fine-tuned QA checkpoint (official
            or VideoFM); see :meth:`load_checkpoint`.
    """

    def __init__(self, vision: dict, text: dict, tokenizer: dict, answer_list: str, max_answer_len: int = 5,
                 k_test: int = 128, eos: str = EOS, decoder_layers: Optional[int] = None,
                 rank_chunk: Optional[int] = 1024, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(vision, text, tokenizer, loss_weights=dict(vtc=0., vtm=0., mlm=0., align=0.),
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg, **_NO_PRETRAINING)
        for name in ('vision_proj', 'text_proj', 'temp', 'itm_head'):  # as the reference's UMT_QA
            delattr(self, name)
        del self.vision_encoder.pool_norm  # the reference builds the QA vision encoder without it
        del self.text_encoder.cls  # and the text encoder as a BertModel (no MLM head)
        cfg = self.text_encoder.config
        self.fusion_layer = int(cfg.fusion_layer)
        layers = cfg.num_hidden_layers - self.fusion_layer if decoder_layers is None else int(decoder_layers)
        self.text_decoder = build_answer_decoder(cfg, layers)
        if max_answer_len < 2 or max_answer_len > cfg.max_position_embeddings:
            raise ValueError(f'max_answer_len must be in [2, {cfg.max_position_embeddings}], got {max_answer_len}')
        if k_test < 1:
            raise ValueError(f'k_test must be >= 1, got {k_test}')
        self.max_answer_len, self.k_test, self.eos, self.rank_chunk = int(max_answer_len), int(k_test), eos, rank_chunk
        self.answer_list_file = answer_list
        self.answer_list: List[str] = load_answer_list(answer_list)
        ids, mask = tokenize_answers(self.tokenizer, self.answer_list, self.max_answer_len, eos)
        self.register_buffer('answer_ids', ids, persistent=False)
        self.register_buffer('answer_mask', mask, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.answer_ids.device

    def no_weight_decay(self) -> set:
        return {f'vision_encoder.encoder.{k}' for k in self.vision_encoder.encoder.no_weight_decay()}

    # ---------------------------------------------------------------------------------------------- encoding
    def encode_question(self, video: torch.Tensor, questions: List[str]):
        """Fused question states: text layers, then fusion layers cross-attending to every vision token.

        Args:
            video (Tensor): (B, 3, T, H, W) (or (B, 1, 3, T, H, W)).
            questions (list[str]): B questions.

        Returns:
            tuple[Tensor, Tensor]: states (B, Lq, Ct) and their attention mask (B, Lq).
        """
        video = one_clip_per_sample(video)
        if len(questions) != video.shape[0]:
            raise ValueError(f'{len(questions)} questions for {video.shape[0]} clips')
        vision_tokens = self.vision_encoder.encoder.forward_features(video)
        ids, mask = self.tokenize(questions)
        return self.fuse(vision_tokens, self.text_encoder.forward_text(ids, mask), mask), mask

    def decoder_fn(self):
        """The answer decoder as a :data:`tasks.qa.ranking.DecoderFn`."""
        return partial(decoder_logits, self.text_decoder)

    def answer_loglik(self, states: torch.Tensor, states_mask: torch.Tensor, answers: List[str]) -> torch.Tensor:
        """Teacher-forced log-likelihood (N,) of ``answers`` given question states (N, Lq, C) / (N, Lq)."""
        ids, mask = tokenize_answers(self.tokenizer, answers, self.max_answer_len, self.eos, self.device)
        return sequence_log_likelihood(self.decoder_fn()(ids, mask, states, states_mask), ids, mask)

    # ------------------------------------------------------------------------------------------ train / test
    def loss(self, inputs: torch.Tensor, data_samples: list) -> Dict[str, torch.Tensor]:
        """``loss_answer = sum over the samples' answers of weight * -log p(answer | question, video) / B``."""
        name = type(self).__name__
        questions = [_field(ds, 'question', i, name, 'PackQAInputs') for i, ds in enumerate(data_samples)]
        answers, weights, counts = [], [], []
        for i, ds in enumerate(data_samples):
            a = list(_field(ds, 'gt_answer', i, name, 'PackQAInputs'))
            w = list(_field(ds, 'gt_answer_weight', i, name, 'PackQAInputs'))
            if not a or len(a) != len(w):
                raise ValueError(f'{name}: data sample {i} has {len(a)} answers and {len(w)} weights')
            answers += a
            weights += w
            counts.append(len(a))
        states, mask = self.encode_question(inputs, questions)
        counts_t = torch.tensor(counts, device=states.device)
        loglik = self.answer_loglik(states.repeat_interleave(counts_t, 0), mask.repeat_interleave(counts_t, 0),
                                    answers)
        weights_t = torch.tensor(weights, dtype=loglik.dtype, device=loglik.device)
        return dict(loss_answer=-(weights_t * loglik).sum() / len(data_samples))

    @torch.no_grad()
    def rank(self, inputs: torch.Tensor, questions: List[str], k: Optional[int] = None):
        """Ranked answer ids (B, k') (indices into :attr:`answer_list`, best first) and probabilities (B, k')."""
        states, mask = self.encode_question(inputs, questions)
        return rank_answers(self.decoder_fn(), states, mask, self.answer_ids, self.answer_mask,
                            self.k_test if k is None else k, self.rank_chunk)

    def predict(self, inputs: torch.Tensor, data_samples: list) -> list:
        """Sets ``pred_answer`` (str) and ``pred_top`` (the 5 best ``[answer, probability]``) on every sample."""
        questions = [_field(ds, 'question', i, type(self).__name__, 'PackQAInputs')
                     for i, ds in enumerate(data_samples)]
        ids, probs = self.rank(inputs, questions)
        for ds, row, p in zip(data_samples, ids.tolist(), probs.tolist()):
            ds.pred_answer = self.answer_list[row[0]]
            ds.pred_top = [[self.answer_list[j], q] for j, q in zip(row[:5], p[:5])]
        return data_samples

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        """``'loss'``, ``'predict'``, or ``'tensor'`` (the vision tokens (B, Lv, Cv))."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.vision_encoder.encoder.forward_features(one_clip_per_sample(inputs))
        raise ValueError(f"{type(self).__name__}.forward: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    # ------------------------------------------------------------------------------------------ weights
    def load_checkpoint(self, path: str, strict: bool = True, prefix: Optional[str] = None) -> LoadReport:
        """Load a stage-2 checkpoint (the QA start: decoder from the fusion layers) or a fine-tuned QA one (official
        keys: ``text_encoder.*`` without ``bert.``, ``text_decoder.*``), converted by
        :func:`backbones.checkpoint.convert_umt_qa_state_dict`.

        Args:
            path (str): The file.
            strict (bool): Every weight of the model must be in the file with its shape
                (:class:`~backbones.checkpoint.PartialLoadError` otherwise). False: load what fits, report the rest.
            prefix (str, optional): Take the keys under this prefix.

        Returns:
            LoadReport: Logged too.
        """
        checkpoint = load_checkpoint_file(path)
        sd, _, _ = unwrap_checkpoint(checkpoint, str(path))
        if prefix:
            checkpoint = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
            sd = checkpoint
        fmt = detect_format(_strip_wrappers(sd, LoadReport()), str(path))
        if fmt != 'umt-stage2':
            raise ValueError(f'{path} is a {fmt} checkpoint; UMTQA starts from a UMT stage-2 checkpoint (official or '
                             'VideoFM) or a fine-tuned QA one')
        state_dict, report = convert_umt_qa_state_dict(checkpoint, self.fusion_layer, source=str(path))
        model_state = self.state_dict()
        skip, notes = check_load(model_state, state_dict, strict=True if strict else False,
                                 encoder_prefix='vision_encoder.encoder.', source=str(path), model_name='UMTQA')
        report.notes += notes
        unexpected = [k for k in state_dict if k not in model_state]
        if strict and unexpected:
            raise PartialLoadError(f'{path} has weights UMTQA does not: {unexpected[:8]}; build the model with the '
                                   "checkpoint's architecture (text arch / fusion_layer / decoder_layers)")
        report.drop('not in this model', unexpected)
        load = {k: v for k, v in state_dict.items() if k in model_state and k not in skip}
        result = self.load_state_dict(load, strict=False)
        report.loaded, report.missing = list(load), list(result.missing_keys)
        print_log(str(report), logger='current')
        return report


@MODELS.register_module()
class UMTMultipleChoice(UMTStage2):
    """MSRVTT-MC: the stage-2 model (trained as retrieval, VTC + VTM) choosing one of ``n`` captions per video.

    Training data: retrieval samples (``RetrievalDataset`` + ``PackRetrievalInputs``, the reference trains on
    ``msrvtt_ret_train7k``); evaluation data: ``VideoMCDataset`` + ``PackMCInputs``. The prediction sets
    ``pred_index`` and ``pred_scores`` (:func:`tasks.qa.mc.mc_scores`).

    Args:
        itm_weight (float): Weight of the ITM probability (0.7).
        keep_temporal (bool): ITC with per-frame video features, similarities averaged over frames (the reference);
            False: the pooled clip feature.
        **kwargs: :class:`~backbones.UMTStage2` arguments (``loss_weights=dict(vtc=1., vtm=1., mlm=0.)``,
            ``mask_ratio=dict(video=0., image=0.)``, ``mask_type='random'`` for fine-tuning).
    """

    def __init__(self, *args, itm_weight: float = ITM_WEIGHT, keep_temporal: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0. <= itm_weight <= 1.:
            raise ValueError(f'itm_weight must be in [0, 1], got {itm_weight}')
        self.itm_weight, self.keep_temporal = float(itm_weight), bool(keep_temporal)

    @torch.no_grad()
    def option_scores(self, inputs: torch.Tensor, options: List[List[str]]) -> torch.Tensor:
        """Scores (B, n) of ``n`` options per clip (B clips; every clip the same ``n``)."""
        video = one_clip_per_sample(inputs)
        n = len(options[0])
        if len(options) != video.shape[0] or any(len(o) != n for o in options):
            raise ValueError(f'need {video.shape[0]} option lists of the same length, got lengths '
                             f'{[len(o) for o in options]}')
        vision_tokens, vision_feat = self.encode_vision(video, keep_temporal=self.keep_temporal)
        ids, mask = self.tokenize([t for opts in options for t in opts])
        text_tokens, text_feat = self.encode_text(ids, mask)
        text_feat = text_feat.view(video.shape[0], n, -1)
        if vision_feat.dim() == 3:  # (B, T, D): per-frame similarities averaged (reference keep_temporal)
            sim = torch.einsum('btd,bnd->btn', vision_feat, text_feat).mean(1)
        else:
            sim = torch.einsum('bd,bnd->bn', vision_feat, text_feat)
        itm = self.itm_logits(vision_tokens.repeat_interleave(n, 0), text_tokens, mask).view(video.shape[0], n, 2)
        return mc_scores(itm, sim, self.temperature, self.itm_weight)

    def predict(self, inputs: torch.Tensor, data_samples: list) -> list:
        name = type(self).__name__
        options = [list(_field(ds, 'options', i, name, 'PackMCInputs')) for i, ds in enumerate(data_samples)]
        scores = self.option_scores(inputs, options)
        for ds, s in zip(data_samples, scores):
            ds.pred_index = int(s.argmax())
            ds.pred_scores = s.tolist()
        return data_samples

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        """``'loss'`` (stage-2 losses), ``'predict'`` (MC), ``'tensor'`` (:meth:`encode_vision`)."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)


def _toy_first(toy: dict) -> None:
    from tasks.toy_data.qa import ensure_qa
    toy = dict(toy)
    ensure_qa(toy.pop('root'), progress=False, **toy)


@MODELS.register_module()
class ToyUMTQA(UMTQA):
    """:class:`UMTQA` on the toy QA set: generates it first (``toy``: ``root`` + :func:`tasks.toy_data.qa.ensure_qa`
    parameters), since the tokenizer vocabulary and the answer list the model reads at build time are in it."""

    def __init__(self, toy: dict, **kwargs):
        _toy_first(toy)
        super().__init__(**kwargs)


@MODELS.register_module()
class ToyUMTMultipleChoice(UMTMultipleChoice):
    """:class:`UMTMultipleChoice` on the toy QA set (generated first, as :class:`ToyUMTQA`)."""

    def __init__(self, toy: dict, **kwargs):
        _toy_first(toy)
        super().__init__(**kwargs)
