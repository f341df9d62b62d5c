"""QA metrics: exact-match accuracy of open-ended answers (with the count of answers outside the answer list, and
an optional JSON dump of every prediction) and multiple-choice accuracy.

Exact match is the reference's ``eval_simple_qa_acc``: a prediction is right when it equals the ground-truth answer
string; a question whose answer is not in the answer list can never be right (the ranking only outputs list
answers), and is counted in ``not_in_answer_list``. Accuracies are percentages, as the published tables.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from backbones.registry import METRICS

__all__ = ['QAAccuracy', 'MCAccuracy', 'exact_match_accuracy']


def exact_match_accuracy(preds: Sequence[str], answers: Sequence[str]) -> float:
    """Percent of ``preds[i] == answers[i]`` (0.0 for no questions)."""
    if len(preds) != len(answers):
        raise ValueError(f'{len(preds)} predictions for {len(answers)} answers')
    return 100.0 * sum(p == a for p, a in zip(preds, answers)) / max(len(answers), 1)


def _get(sample, key, default=None):
    return sample.get(key, default) if isinstance(sample, dict) else getattr(sample, key, default)


@METRICS.register_module()
class QAAccuracy(BaseMetric):
    """Exact-match accuracy of open-ended video QA.

    Reads from every data sample: ``pred_answer`` (str; set by the QA model), ``answer`` (the ground truth),
    ``question_id``, ``answer_in_list`` (bool, when the dataset has the answer list) and, for the dump,
    ``question`` and ``pred_top`` (list of ``[answer, probability]``).

    Results: ``acc`` (percent), ``num_questions``, ``not_in_answer_list`` (questions whose answer is not in the
    answer list: always wrong, as in the reference).

    Args:
        out_file (str, optional): Write every prediction to this JSON file (``[{question_id, question, answer,
            pred_answer, correct, answer_in_list, top}]``, in dataset order); rank 0 writes it.
        collect_device (str): ``'cpu'`` or ``'gpu'`` (MMEngine).
        prefix (str): Key prefix (default ``'qa'``).
    """

    default_prefix = 'qa'

    def __init__(self, out_file: Optional[str] = None, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_file = out_file

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            pred = _get(s, 'pred_answer')
            if pred is None:
                raise KeyError('QAAccuracy: a data sample has no "pred_answer"; is the model a QA model (UMTQA)?')
            in_list = _get(s, 'answer_in_list')
            self.results.append(dict(question_id=_get(s, 'question_id'), question=_get(s, 'question'),
                                     answer=_get(s, 'answer'), pred_answer=pred,
                                     answer_in_list=None if in_list is None else bool(in_list),
                                     top=_get(s, 'pred_top')))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        acc = exact_match_accuracy([r['pred_answer'] for r in results], [r['answer'] for r in results])
        missing = sum(r['answer_in_list'] is False for r in results)
        if missing:
            MMLogger.get_current_instance().warning(
                f'QAAccuracy: {missing} of {len(results)} questions have an answer that is not in the answer list; '
                'they count as wrong (as in the reference)')
        if self.out_file:
            os.makedirs(osp.dirname(osp.abspath(self.out_file)), exist_ok=True)
            rows = [dict(r, correct=r['pred_answer'] == r['answer']) for r in results]
            with open(self.out_file, 'w', encoding='utf-8') as f:
                json.dump(rows, f, ensure_ascii=False, indent=1)
            MMLogger.get_current_instance().info(f'QAAccuracy: {len(rows)} predictions written to {self.out_file}')
        return dict(acc=acc, num_questions=len(results), not_in_answer_list=missing)


@METRICS.register_module()
class MCAccuracy(BaseMetric):
    """Multiple-choice accuracy: percent of samples whose ``pred_index`` equals ``answer_index``.

    Args:
        out_file (str, optional): Write ``[{row, answer_index, pred_index, scores}]`` to this JSON file (rank 0).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str): Key prefix (default ``'mc'``).
    """

    default_prefix = 'mc'

    def __init__(self, out_file: Optional[str] = None, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_file = out_file

    def process(self, data_batch, data_samples: Sequence) -> None:
        for s in data_samples:
            pred = _get(s, 'pred_index')
            if pred is None:
                raise KeyError('MCAccuracy: a data sample has no "pred_index"; is the model a multiple-choice model '
                               '(UMTMultipleChoice)?')
            scores = _get(s, 'pred_scores')
            self.results.append(dict(row=_get(s, 'row'), answer_index=int(_get(s, 'answer_index')),
                                     pred_index=int(pred), scores=None if scores is None else
                                     [float(x) for x in scores]))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        acc = 100.0 * sum(r['pred_index'] == r['answer_index'] for r in results) / max(len(results), 1)
        if self.out_file:
            os.makedirs(osp.dirname(osp.abspath(self.out_file)), exist_ok=True)
            with open(self.out_file, 'w', encoding='utf-8') as f:
                json.dump(results, f, indent=1)
        return dict(acc=acc, num_questions=len(results))
