"""AVA datasets: ``CheckedAVADataset`` (mmaction2's ``AVADataset`` + the bad input policy for its annotations)
and ``ToyAVADataset``, which first creates the toy data."""
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, List, Optional, Tuple

import mmengine
from mmaction.datasets import AVADataset
from mmengine.logging import print_log

from backbones.registry import DATASETS

from .toy import ensure_ava

__all__ = ['CheckedAVADataset', 'ToyAVADataset', 'validate_ava_csv']


def validate_ava_csv(path: str, num_classes: int = 81) -> Tuple[List[int], List[str]]:
    """Check an AVA annotation csv (``video_id, timestamp, x1, y1, x2, y2, action_id, entity_id``).

    Returns:
        tuple: indices of the good lines and one ``'file:line: problem'`` string per bad line (wrong number of
        fields, non-integer timestamp / action / entity, box values outside [0, 1] or empty, action id outside
        [1, num_classes - 1]).
    """
    good, problems = [], []
    with open(path) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        fields = line.strip().split(',')
        where = f'{path}:{i + 1}'
        try:
            if len(fields) != 8:
                raise ValueError(f'{len(fields)} fields, expected 8 (video_id,timestamp,x1,y1,x2,y2,action,entity)')
            int(fields[1]), int(fields[7])
            x1, y1, x2, y2 = map(float, fields[2:6])
            action = int(fields[6])
        except ValueError as err:
            problems.append(f'{where}: malformed row ({err}): {line[:80]!r}')
            continue
        if not all(0.0 <= v <= 1.0 for v in (x1, y1, x2, y2)):
            problems.append(f'{where}: box ({x1}, {y1}, {x2}, {y2}) outside [0, 1] (AVA boxes are normalised)')
        elif x2 <= x1 or y2 <= y1:
            problems.append(f'{where}: empty box ({x1}, {y1}, {x2}, {y2}) (needs x1 < x2 and y1 < y2)')
        elif not 1 <= action < num_classes:
            problems.append(f'{where}: unknown action id {action} (expected 1..{num_classes - 1})')
        else:
            good.append(i)
    return good, problems


@DATASETS.register_module()
class CheckedAVADataset(AVADataset):
    """mmaction2's ``AVADataset`` with the bad input policy for its annotations.

    mmaction2 reads bad rows silently or fails later without naming them (a box outside [0, 1] trains on
    garbage, an action id >= num_classes is an IndexError in the pipeline) and gives a keyframe without
    proposals one whole-frame box. Here every problem names the file and line (or the proposals key):

    * ``on_error=None`` / ``'raise'`` (default): raise at build time listing the problems;
    * ``'skip'``: drop the bad rows and the keyframes without proposals, with one warning and their count.

    Args:
        proposal_file (str, optional): Person proposals pickle ``{'video,timestamp': (N, 4|5) array}``.
        on_error (str, optional): None, ``'raise'`` or ``'skip'`` (see above).
        **kwargs: ``AVADataset`` arguments.
    """

    def __init__(self, *args, proposal_file: Optional[str] = None, on_error: Optional[str] = None, **kwargs):
        if on_error not in (None, 'raise', 'skip'):
            raise ValueError(f"on_error must be None, 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        if proposal_file is not None and not Path(proposal_file).is_file():
            raise FileNotFoundError(f'proposal_file {proposal_file} does not exist')
        self._checked_proposals = mmengine.load(proposal_file) if proposal_file is not None else None
        super().__init__(*args, proposal_file=None, **kwargs)  # proposals are loaded once, above
        self.proposal_file, self.proposals = proposal_file, self._checked_proposals

    def load_data_list(self) -> List[dict]:
        good, problems = validate_ava_csv(self.ann_file, self.num_classes)
        ann_file = self.ann_file
        if problems and self.on_error == 'skip':
            with open(ann_file) as f:
                lines = f.read().splitlines()
            tmp = tempfile.NamedTemporaryFile('w', suffix='.csv', delete=False)
            tmp.write('\n'.join(lines[i] for i in good) + '\n')
            tmp.close()
            self.ann_file = tmp.name
        try:
            data_list = super().load_data_list() if not problems or self.on_error == 'skip' else []
        finally:
            if self.ann_file != ann_file:
                os.remove(self.ann_file)
                self.ann_file = ann_file
        if self._checked_proposals is not None:
            missing = [d['img_key'] for d in data_list if d['img_key'] not in self._checked_proposals]
            if missing:
                problems.append(f'{len(missing)} keyframes have no entry in the proposals file (first: '
                                f'{missing[:3]}); mmaction2 would silently use one whole-frame box for them')
                if self.on_error == 'skip':
                    missing_set = set(missing)
                    data_list = [d for d in data_list if d['img_key'] not in missing_set]
        if problems:
            message = f'{len(problems)} problems in the AVA annotations {ann_file}:\n  ' + '\n  '.join(problems[:20])
            if self.on_error == 'skip':
                print_log(message + '\n  (dropped: on_error="skip")', logger='current', level=logging.WARNING)
            else:
                raise ValueError(message + '\n  (fix them, or drop them with on_error="skip")')
        return data_list


@DATASETS.register_module()
class ToyAVADataset(CheckedAVADataset):
    """``AVADataset`` over the toy AVA set of :mod:`tasks.ava.toy`, generated when missing.

    Under ``torch.distributed`` local rank 0 generates and the others wait on a barrier.

    Args:
        toy (dict): ``root`` plus the parameters of :func:`tasks.ava.toy.ensure_ava`.
        **kwargs: ``AVADataset`` arguments (ann_file, exclude_file, label_file, proposal_file, pipeline, ...).
    """

    def __init__(self, toy: dict, **kwargs: Any) -> None:
        if not isinstance(toy, dict) or 'root' not in toy:
            raise ValueError(f'ToyAVADataset needs toy=dict(root=..., ...), got {toy!r}')
        toy = dict(toy)
        root = Path(toy.pop('root'))
        ensure_ava(root, **toy)  # local rank 0 generates, the other ranks wait
        super().__init__(**kwargs)
