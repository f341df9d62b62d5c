"""Video question answering on the UMT stage-2 model: open-ended answers ranked from a fixed answer list by a
generative decoder (MSRVTT-QA, ActivityNet-QA, MSVD-QA) and multiple choice (MSRVTT-MC).

* :mod:`.dataset`: ``VideoQADataset`` / ``VideoMCDataset`` (official JSON formats, bad-input checks);
  :mod:`.answers`: the answer list (reading, checks, tokenisation); :mod:`.transforms`: ``PackQAInputs`` /
  ``PackMCInputs``.
* :mod:`.ranking`: :func:`rank_answers`, the top-k-by-first-token then full-likelihood ranking as a function over a
  decoder, batched on the device; :mod:`.decoder`: the ``BertLMHeadModel`` answer decoder.
* :mod:`.mc`: :func:`mc_scores`, the ITM + ITC fusion of multiple choice (pure).
* :mod:`.metric`: ``QAAccuracy`` (exact match, answers outside the list counted, JSON dump) and ``MCAccuracy``.
* :mod:`.model`: ``UMTQA`` (question encoder = the stage-2 text encoder over the video, answer decoder) and
  ``UMTMultipleChoice`` (the stage-2 model with the MC prediction).
"""
from .answers import EOS, load_answer_list, tokenize_answers
from .dataset import (ToyQACaptionDataset, ToyVideoMCDataset, ToyVideoQADataset, VideoMCDataset,
                      VideoQADataset)
from .decoder import build_answer_decoder, decoder_logits
from .mc import ITM_WEIGHT, mc_scores
from .model import ToyUMTMultipleChoice, ToyUMTQA, UMTMultipleChoice, UMTQA
from .metric import MCAccuracy, QAAccuracy, exact_match_accuracy
from .ranking import rank_answers, sequence_log_likelihood
from .transforms import PackMCInputs, PackQAInputs

__all__ = ['EOS', 'load_answer_list', 'tokenize_answers', 'VideoQADataset', 'VideoMCDataset', 'ToyVideoQADataset',
           'ToyVideoMCDataset', 'ToyQACaptionDataset', 'build_answer_decoder', 'decoder_logits', 'ITM_WEIGHT',
           'mc_scores', 'QAAccuracy', 'MCAccuracy', 'exact_match_accuracy', 'UMTQA', 'UMTMultipleChoice', 'ToyUMTQA',
           'ToyUMTMultipleChoice', 'rank_answers', 'sequence_log_likelihood', 'PackQAInputs', 'PackMCInputs']
