"""The answer list of open-ended video QA: reading, checking, and tokenising it as the reference does.

The answer list is a JSON list of strings (``msrvtt_qa_answer_list.json``: the 1500 most frequent training
answers; ActivityNet-QA and MSVD-QA alike). Inference ranks exactly these strings, so a question whose answer is not
in the list is always scored wrong (as the reference does); :func:`answers_not_in_list` finds them so the dataset
and the metric can count and report them.
"""
import json
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import torch

from tasks.datasets.annotations import AnnotationError

__all__ = ['load_answer_list', 'answer_index', 'tokenize_answers', 'EOS']

#: Appended to every answer before tokenising (the reference's ``eos``), so the decoder learns to stop.
EOS = '[SEP]'


def load_answer_list(path: str) -> List[str]:
    """Read and check an answer-list JSON file.

    Args:
        path (str): JSON file holding a non-empty list of distinct, non-empty strings.

    Returns:
        list[str]: The answers, in file order (indices are answer ids).

    Raises:
        FileNotFoundError: No such file.
        AnnotationError: Invalid JSON, not a list, an entry that is not a non-empty string, or a duplicate (each
            named by its 1-based position).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'answer list {path} does not exist')
    try:
        with open(path, 'r', encoding='utf-8') as f:
            answers = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AnnotationError(f'{path}: not valid UTF-8 JSON ({err})') from err
    if not isinstance(answers, list) or not answers:
        raise AnnotationError(f'{path}: an answer list must be a non-empty JSON list of strings, got '
                              f'{type(answers).__name__ if not isinstance(answers, list) else "an empty list"}')
    seen: Dict[str, int] = {}
    for i, a in enumerate(answers, 1):
        if not isinstance(a, str) or not a.strip():
            raise AnnotationError(f'{path} entry {i}: answers must be non-empty strings, got {a!r}')
        if a in seen:
            raise AnnotationError(f'{path} entry {i}: duplicate answer {a!r} (also entry {seen[a]}); every answer '
                                  'must appear once')
        seen[a] = i
    return answers


def answer_index(answers: Sequence[str]) -> Dict[str, int]:
    """``answer -> position`` of an answer list."""
    return {a: i for i, a in enumerate(answers)}


def tokenize_answers(tokenizer, answers: Sequence[str], max_length: int = 5, eos: str = EOS,
                     device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Tokenise answers as the reference: ``answer + ' ' + eos``, padded to ``max_length``, truncated.

    With a BERT tokenizer a short answer becomes ``[CLS] tokens [SEP] [SEP] [PAD]...`` (the ``eos`` string and the
    tokenizer's own separator); the first token is the decoder's start token.

    Args:
        tokenizer: A transformers tokenizer (``__call__`` with padding / truncation).
        answers (Sequence[str]): Answer strings.
        max_length (int): Token length (5 in the reference, ``max_a_len``).
        eos (str): End marker appended to each answer.
        device: Where to put the tensors.

    Returns:
        tuple[Tensor, Tensor]: ``input_ids`` and ``attention_mask``, both [len(answers), max_length] long.
    """
    enc = tokenizer([f'{a} {eos}' for a in answers], padding='max_length', truncation=True, max_length=max_length,
                    return_tensors='pt')
    return enc['input_ids'].to(device), enc['attention_mask'].to(device)
