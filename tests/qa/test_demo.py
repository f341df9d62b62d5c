"""tools/demo/answer.py: the top answers of a trained (here: random tiny) QA model for one toy video, equal to the
model's own ranking; a non-QA config and an empty question are refused."""
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import tasks  # noqa: F401
from tasks.toy_data.qa import ensure_qa, toy_qa_files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'demo'))
CFG = ROOT / 'configs/qa/toy/vit-tiny-p8_scratch_1xb16-u4-40e_toy-qa.py'


def test_answer_demo_prints_the_model_ranking(tmp_path, capsys):
    import answer
    toy = dict(root=str(tmp_path / 'toy'), num_train=1, num_val=1, num_frames=8, size=32, fps=8, seed=0)
    ensure_qa(toy['root'], progress=False, **{k: v for k, v in toy.items() if k != 'root'})
    f = toy_qa_files(toy['root'])
    cfg = Config.fromfile(str(CFG))
    cfg.model.toy = toy
    cfg.model.tokenizer.path, cfg.model.answer_list = f['vocab'], f['answer_list']
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    from backbones.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('videofm')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    ckpt = tmp_path / 'qa.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    video = Path(f['videos']) / 'val_0000.mp4'
    top = answer.main([str(video), 'What colour is the shape?', str(cfg_file), str(ckpt), '--topk', '3'])
    out = capsys.readouterr().out
    assert len(top) == 3 and all(a in out for a, _ in top)
    # the same ranking by hand: the config's test pipeline, the model's rank()
    ref = answer.answer(video, 'what colour is the shape', cfg, model, topk=3)
    assert [a for a, _ in ref] == [a for a, _ in top]
    assert [p for _, p in ref] == pytest.approx([p for _, p in top], abs=1e-5)
    assert top[0][1] >= top[1][1] >= top[2][1]
    with pytest.raises(ValueError, match='empty'):
        answer.answer(video, ' ?! ', cfg, model)
