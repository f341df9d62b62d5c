"""One test per workaround in backbones/compat.py. Each fails when its workaround stops working."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import backbones  # noqa: F401  (applies the workarounds)
from backbones import compat

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (imports in this process are already patched)."""
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=1800)


# ---------------------------------------------------------------- mmaction2#2714: localizers/drn missing
@pytest.mark.slow
def test_stock_mmaction_models_import_is_broken_without_backbones():
    """Documents the upstream bug; when this fails, mmaction2 shipped drn and the stub can go."""
    out = run_python('import mmaction.models')
    assert out.returncode != 0 and 'mmaction.models.localizers.drn' in out.stderr


@pytest.mark.slow
def test_mmaction_models_import_after_backbones():
    out = run_python('import backbones, mmaction.models; from mmaction.registry import MODELS; '
                     'print(MODELS.get("Recognizer3D").__name__, MODELS.get("BMN").__name__)')
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['Recognizer3D', 'BMN']


def test_drn_stub_fails_loudly():
    from mmaction.models.localizers import DRN
    with pytest.raises(ImportError, match='2714'):
        DRN()


# ----------------------------------------------- mmengine#1655: Runner checkpoints under weights_only=True
def _mmengine_like_checkpoint():
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_compat_ckpt')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/lr', np.float64(1e-3))
    hub.update_info('iter', 3)
    return {'meta': {'message_hub': hub.state_dict(), 'seed': 0, 'epoch': 1},
            'state_dict': {'w': torch.ones(2)}, 'optimizer': {'state': {}, 'param_groups': []}}


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    buffer = ckpt['meta']['message_hub']['log_scalars']['train/loss']
    assert buffer.current() == pytest.approx(0.5)
    assert buffer.mean() == pytest.approx(0.5)  # statistics methods restored from the class registry


def test_history_buffer_pickles_without_getattr(tmp_path):
    path = tmp_path / 'a.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    assert 'builtins.getattr' not in unsafe


def test_allow_list_is_exact():
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = compat._numpy_multiarray()
    plain = {g for g in compat.MMENGINE_CHECKPOINT_GLOBALS if not isinstance(g, tuple)}
    dtype_classes = {type(np.dtype(c)) for c in np.typecodes['AllFloat'] + np.typecodes['AllInteger'] + '?'}
    assert plain == {HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar} | dtype_classes
    assert all(cls.__module__ == 'numpy.dtypes' for cls in dtype_classes)
    assert all(g[0] in plain for g in compat.MMENGINE_CHECKPOINT_GLOBALS if isinstance(g, tuple))


class _Payload:
    def __reduce__(self):
        return (print, ('pwned',))


def test_other_pickled_objects_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'x': _Payload()}}, path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(path, map_location='cpu')


def test_getattr_payload_is_refused(tmp_path):
    """A checkpoint that needs builtins.getattr (what stock MMEngine would write) stays refused."""
    from mmengine.logging.history_buffer import HistoryBuffer
    path = tmp_path / 'getattr.pth'

    class Evil:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, 'min'))

    torch.save({'x': Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu')


# ------------------------------------------------ transformers >= 4.56: BERT helpers left modeling_utils
@pytest.mark.slow
def test_vindlu_imports_with_installed_transformers():
    pytest.importorskip('transformers')
    out = run_python('import backbones, mmaction.models; from mmaction.registry import MODELS; '
                     'print(MODELS.get("VindLUVQA").__name__)')
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'VindLUVQA'


@pytest.mark.slow
def test_bert_helpers_reexported_lazily():
    pytest.importorskip('transformers')
    code = ('import sys, backbones; assert "transformers.modeling_utils" not in sys.modules; '
            'import transformers.modeling_utils as m; print(callable(m.apply_chunking_to_forward))')
    out = run_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'True'


#: An interpreter without transformers (the Quick start installs VideoFM without the ``text`` extra): the module and
#: its distribution metadata (what mmaction2 checks before importing its multimodal models) are hidden.
NO_TRANSFORMERS = """
import importlib.abc, sys, importlib_metadata
class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == 'transformers' or name.startswith('transformers.'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Hide())
_dist = importlib_metadata.distribution
def _no_transformers(name):
    if name == 'transformers':
        raise importlib_metadata.PackageNotFoundError(name)
    return _dist(name)
importlib_metadata.distribution = _no_transformers
"""


@pytest.mark.slow
def test_everything_but_the_text_models_works_without_transformers(tmp_path):
    code = NO_TRANSFORMERS + f"""
import backbones, tasks
from backbones.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
init_default_scope('videofm')
cfg = Config.fromfile({str(ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py')!r})
print(type(MODELS.build(cfg.model)).__name__)
try:
    MODELS.build(dict(type='UMTStage2', vision=dict(img_size=32, num_frames=2, patch_size=16, tubelet_size=1, embed_dim=32, depth=1,
                      num_heads=2), text=dict(), tokenizer=dict(path={str(tmp_path / 'vocab.txt')!r}),
                      mask_ratio=dict(video=0., image=0.)))
except ImportError as err:
    print(err)
"""
    out = run_python(code)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == 'Recognizer3D'
    assert "UMT stage 2 (and retrieval, QA) needs transformers (No module named 'transformers')" in lines[-1]
    assert 'pip install -c constraints.txt -e ".[text]"' in lines[-1]


# ------------------------------------------------- gloo: abort during finalisation after destroy_process_group
@pytest.mark.slow
def test_leave_distributed_process_flushes_and_keeps_the_exit_code():
    code = ('import logging, sys, backbones.compat as c; logging.basicConfig(stream=sys.stderr); '
            'print("buffered", end=""); logging.getLogger("x").warning("logged"); '
            'import atexit; atexit.register(lambda: print("FINALISED")); c.leave_distributed_process(3)')
    out = run_python(code)
    assert out.returncode == 3
    assert out.stdout == 'buffered'  # flushed, and no atexit handler ran (no finalisation)
    assert 'logged' in out.stderr


# --------------------------------------------------------------------------- pinned, not patched
def test_numpy_pin_keeps_mmaction_metrics_working():
    """numpy 2.4 removed np.trapz (proposal AUC) and np.in1d (RetrievalRecall): numpy<2.4 is pinned."""
    from mmaction.evaluation.functional.accuracy import average_recall_at_avg_proposals
    from mmaction.evaluation.metrics.multimodal_metric import RetrievalRecall

    # one ground truth [0, 10]; a perfect and a useless proposal. Recall is 0 for the first 49 of the
    # 100 proposal budgets (0.02 .. 2.0 per video) and 1 after: trapezoid area 0.01 + 50 * 0.02 = 1.01,
    # AUC = 100 * 1.01 / 2.0.
    gt = {'v': np.array([[0., 10.]])}
    proposals = {'v': np.array([[0., 10., 0.9], [20., 30., 0.5]])}
    auc = average_recall_at_avg_proposals(gt, proposals, 2, max_avg_proposals=2,
                                          temporal_iou_thresholds=np.array([0.5]))[3]
    assert auc == pytest.approx(50.5)

    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    recall = RetrievalRecall.calculate(scores, [[1], [2], [2]], topk=(1, 2), target_indices=True)
    assert [float(r) for r in recall] == pytest.approx([200 / 3, 200 / 3])


def test_setuptools_pin_keeps_mmaction_base_configs_working(tmp_path):
    """setuptools>=81 dropped pkg_resources, which mmengine uses for `_base_ = 'mmaction::...'`."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("_base_ = ['mmaction::_base_/default_runtime.py']\n")
    from mmengine.config import Config
    assert Config.fromfile(str(cfg)).default_scope == 'mmaction'


def test_transformers_pin():
    transformers = pytest.importorskip('transformers')
    major = int(transformers.__version__.split('.')[0])
    assert major < 5, 'mmaction2 1.2.0 VindLU needs transformers 4.x'


def test_compat_apply_is_idempotent():
    before = list(sys.meta_path)
    compat.apply()
    assert list(sys.meta_path) == before
