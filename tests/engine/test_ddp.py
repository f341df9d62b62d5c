"""Data-parallel training and testing with 2 CPU processes (gloo), against one process.

* Training (``tools/dist_train.sh`` as two 1-process "nodes" on this machine: NNODES=2, NODE_RANK, MASTER_ADDR,
  PORT, the multi-node path): the loss of every iteration over the global batch, and the final weights, match
  ``tools/train.py`` in one process with the same global batch. Why the runs see the same data: MMEngine's
  ``DefaultSampler`` draws one permutation from (seed + epoch) on every rank and gives rank r the indices
  ``perm[r::W]``, so with a per-rank batch ``b = B / W`` step k of rank r holds ``perm[kB + r], perm[kB + r + W],
  ...``: the W ranks together hold exactly ``perm[kB:(k+1)B]``, the batch one process uses at step k. Every sample
  is augmented from (seed, epoch, index) (``tasks/engine/seeding.py``), whichever rank loads it; the model has no
  batch statistics (LayerNorm only) and the test turns dropout and drop path off (their masks would come from
  each rank's own RNG stream); DDP averages the gradients, i.e. the mean-reduced loss over the global batch.
  What remains is float32 rounding: the gradient of a batch of 8 summed in one GEMM vs two sums of 4 added by the
  all-reduce, which AdamW's normalisation can amplify for coordinates with tiny gradients. Measured here (1 thread
  per process): every one of the 8 losses agrees to 1.3e-7 relative and the final weights to 1.2e-7 absolute;
  the test allows 1e-5 for both (100x that, still far below what one shifted sample, a rank's own dropout mask or
  a summed instead of averaged gradient gives: > 1e-3).
* Testing (``tools/dist_test.sh`` with 2 processes, and ``tools/test.py --launcher slurm`` as 2 Slurm tasks on
  the CPU) on a validation set of 15 clips: ``DefaultSampler`` pads the
  second rank with a repeat of clip 0; the dumped predictions are the 15 of one process, in the same order, and the
  accuracy is the same.
* Metrics: mmaction2's ``AccMetric`` and VideoFM's ``AVAFrameMAP`` and ``TADmAP``, fed per rank by
  ``DefaultSampler`` over 5 samples (rank 1 gets the repeat of sample 0), give the one-process (hand-computed)
  numbers (a counted repeat would change the accuracy and the AVA mAP; TADmAP also drops repeats itself).
"""
import json
import os
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from backbones.compat import leave_distributed_process

ROOT = Path(__file__).resolve().parents[2]
TOY_CONFIG = ROOT / 'configs/recognition/toy/vit-tiny-p8_scratch_1xb16-8x2x1-10e_toy-motion.py'
HELPERS = Path(__file__).resolve().parent / 'helpers'
TOY = dict(num_train=32, num_val=15, num_classes=4, num_frames=16, size=64, seed=0)
GLOBAL_BATCH = 8
EPOCHS = 2
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------- metrics under 2 ranks
LABELS = [0, 1, 2, 3, 1]
ACC_TOP1 = 0.2  # only sample 0 is right; with the repeat of sample 0 counted it would be 2 / 6
BOX, WRONG = (0.1, 0.1, 0.5, 0.9), (0.6, 0.6, 0.9, 0.9)
AVA_DETS = [(BOX, .9), (BOX, .8), (WRONG, .7), (BOX, .6), (BOX, .5)]  # one per frame; frame 2 misses
# ranked TP TP FP TP TP over 5 ground-truth boxes: precision envelope 1, 1, .8, .8 at the 4 TPs -> AP = .2 * 3.6
AVA_AP = 0.72
TAD_VIDEOS = ['a', 'b', 'c', 'd', 'e']
TAD_PRED = {'a': ([1, 5], .9), 'b': ([20, 30], .8), 'c': ([1, 5], .7), 'd': ([1, 5], .6), 'e': ([20, 30], .5)}
# ranked TP FP TP TP FP over 5 ground-truth segments: precision 1, 2/3, 3/4 at the TPs, interpolated (envelope
# from the right) 1, 3/4, 3/4 -> AP = .2 * 2.5
TAD_AP = 0.5


def _feed_metrics(files: dict, indices, size: int = 5) -> dict:
    """Build the three metrics, feed them the samples at ``indices`` and return their evaluation over ``size``
    (what MMEngine's evaluator passes: the dataset length; results beyond it are cut off)."""
    from mmaction.evaluation import AccMetric

    from tasks.ava.metric import AVAFrameMAP
    from tasks.tad.metric import TADmAP
    acc = AccMetric(metric_list=('top_k_accuracy', 'mean_class_accuracy'), metric_options=dict(
        top_k_accuracy=dict(topk=(1,))))
    ava = AVAFrameMAP(files['ava_gt'], files['ava_map'], per_class=False)
    tad = TADmAP(files['tad_gt'], 'test', tiou_thresholds=[0.5], classes=['run'])
    for i in indices:
        score = torch.full((4,), 0.1)
        score[0] = 0.7  # always predicts class 0
        acc.process({}, [dict(pred_score=score, gt_label=torch.tensor([LABELS[i]]))])
        box, s = AVA_DETS[i]
        scores = np.zeros((1, 3))
        scores[0, 1] = s
        ava.process({}, [dict(video_id='v', timestamp=902 + i, pred_instances=dict(bboxes=np.array([box]),
                                                                                     scores=scores))])
        seg, s = TAD_PRED[TAD_VIDEOS[i]]
        tad.process({}, [dict(video_name=TAD_VIDEOS[i], pred_instances=dict(
            segments=torch.tensor([seg], dtype=torch.float32), labels=torch.tensor([0]), scores=torch.tensor([s])))])
    return {**acc.evaluate(size), **ava.evaluate(size), **tad.evaluate(size)}


def _metric_worker(rank, world, port, files, out_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        from mmengine.dataset import DefaultSampler
        sampler = DefaultSampler(list(range(5)), shuffle=False)  # rank and world size from the process group
        indices = list(sampler)
        result = _feed_metrics(files, indices)
        with open(os.path.join(out_dir, f'{rank}.json'), 'w') as f:
            json.dump(dict(indices=indices, metrics=result), f)
        dist.barrier()  # no rank tears the group down while the other still talks to it
    finally:
        dist.destroy_process_group()
    leave_distributed_process()  # no interpreter finalisation: gloo can abort there (backbones.compat, workaround 5)


def _metric_files(tmp_path: Path) -> dict:
    gt_rows = ''.join(f'v,{902 + i},{",".join(f"{c:.3f}" for c in BOX)},1,0\n' for i in range(5))
    (tmp_path / 'ava_gt.csv').write_text(gt_rows)
    (tmp_path / 'ava_map.pbtxt').write_text('item {\n  name: "stand"\n  id: 1\n}\n')
    gt = dict(database={v: dict(subset='test', annotations=[dict(segment=[1, 5], label='run')])
                        for v in TAD_VIDEOS})
    (tmp_path / 'tad_gt.json').write_text(json.dumps(gt))
    return dict(ava_gt=str(tmp_path / 'ava_gt.csv'), ava_map=str(tmp_path / 'ava_map.pbtxt'),
                tad_gt=str(tmp_path / 'tad_gt.json'))


def test_metrics_count_every_sample_once_under_two_ranks(tmp_path):
    import torch.multiprocessing as mp
    files = _metric_files(tmp_path)
    single = _feed_metrics(files, range(5))
    assert single['acc/top1'] == pytest.approx(ACC_TOP1)
    assert single['ava/mAP'] == pytest.approx(AVA_AP)
    assert single['tad/mAP@0.5'] == pytest.approx(TAD_AP)
    # the repeat of sample 0 counted gives other numbers for accuracy and AVA (so the distributed check below can
    # fail); TADmAP drops a repeated video itself (first copy kept)
    padded = _feed_metrics(files, [0, 1, 2, 3, 4, 0], size=6)
    assert padded['acc/top1'] != pytest.approx(single['acc/top1'])
    assert padded['ava/mAP'] != pytest.approx(single['ava/mAP'])
    assert padded['tad/mAP@0.5'] == pytest.approx(single['tad/mAP@0.5'])

    mp.spawn(_metric_worker, args=(2, _free_port(), files, str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f'{r}.json').read_text()) for r in range(2)]
    assert [r['indices'] for r in results] == [[0, 2, 4], [1, 3, 0]]  # the sampler's padding, as described
    for r in results:
        assert r['metrics'] == pytest.approx(single)


# ------------------------------------------------------------------------------ training and testing
@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    from tasks.toy_data.recognition import ensure_recognition
    root = tmp_path_factory.mktemp('data') / 'toy'
    ensure_recognition(root, progress=False, **TOY)
    return root


def ddp_config(tmp_path: Path, toy_root: Path, per_process_batch: int) -> Path:
    """The toy recognition config at a small size: 1 block, no dropout / drop path, ``per_process_batch`` clips
    per process, no validation during training, the global loss recorded per iteration."""
    toy = dict(root=str(toy_root), **TOY)
    loader = lambda split, batch, **kw: dict(  # noqa: E731
        batch_size=batch, num_workers=0, persistent_workers=False,
        dataset=dict(toy=toy, ann_file=f'{toy_root}/{split}_list.txt', data_prefix=dict(video=str(toy_root)), **kw))
    text = f"""
_base_ = [{str(TOY_CONFIG)!r}]
custom_imports = dict(imports=['backbones', 'tasks', 'global_loss_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='GlobalLossRecordHook')]
model = dict(backbone=dict(depth=1, drop_path_rate=0.0), cls_head=dict(dropout=0.0))
train_dataloader = {loader('train', per_process_batch)!r}
val_dataloader = {loader('val', 4)!r}
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={EPOCHS}, val_interval=100)
default_hooks = dict(checkpoint=dict(interval={EPOCHS}, save_best=None), logger=dict(interval=1))
"""
    path = tmp_path / f'ddp_toy_{per_process_batch}.py'
    path.write_text(text)
    return path


def _env(**extra) -> dict:
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHON': sys.executable,
           'PYTHONPATH': os.pathsep.join([str(ROOT), str(HELPERS)])}
    env.update(extra)
    return env


def _check(proc, what):
    out, err = proc.communicate(timeout=1800) if isinstance(proc, subprocess.Popen) else (proc.stdout, proc.stderr)
    assert proc.returncode == 0, f'{what} failed:\n{(out or "")[-1500:]}\n{(err or "")[-3000:]}'
    return (out or '') + (err or '')


def _state(ckpt: Path) -> dict:
    import backbones  # noqa: F401  (allow-lists MMEngine's checkpoint types for weights_only loading)
    return torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']


def test_two_process_ddp_matches_one_process_and_tests_each_clip_once(tmp_path, toy_root):
    one, two = tmp_path / 'one', tmp_path / 'two'
    # one process, global batch 8
    cfg1 = ddp_config(tmp_path, toy_root, GLOBAL_BATCH)
    _check(subprocess.run([sys.executable, ROOT / 'tools/train.py', cfg1, '--work-dir', one], cwd=tmp_path,
                          capture_output=True, text=True, timeout=1800, env=_env()), 'train.py')
    # two "nodes" of one process each (the multi-node rendezvous), 4 clips per process
    cfg2 = ddp_config(tmp_path, toy_root, GLOBAL_BATCH // 2)
    port = str(_free_port())
    nodes = [subprocess.Popen(['bash', ROOT / 'tools/dist_train.sh', cfg2, '1', '--work-dir', two], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(NNODES='2', NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1', PORT=port))
             for rank in (0, 1)]
    logs = [_check(p, f'dist_train.sh node {rank}') for rank, p in enumerate(nodes)]
    assert 'Distributed training: True' in logs[0], logs[0][-2000:]
    per_epoch = TOY['num_train'] // GLOBAL_BATCH  # 4 steps of 2 x 4 clips (one process with 4 clips would take 8)
    assert re.search(rf'Epoch\(train\) \[1\]\[{per_epoch}/{per_epoch}\]', logs[0]), logs[0][-2000:]

    iters = EPOCHS * TOY['num_train'] // GLOBAL_BATCH
    losses1 = json.loads((one / 'global_losses.json').read_text())
    losses2 = json.loads((two / 'global_losses.json').read_text())
    assert len(losses1) == len(losses2) == iters
    assert losses2 == pytest.approx(losses1, rel=LOSS_RTOL, abs=0), (losses1, losses2)
    assert len({round(x, 5) for x in losses1}) == iters  # a curve, not a constant: every step changes the loss
    w1, w2 = _state(one / f'epoch_{EPOCHS}.pth'), _state(two / f'epoch_{EPOCHS}.pth')
    assert w1.keys() == w2.keys()
    diff = max((w1[k].float() - w2[k].float()).abs().max().item() for k in w1)
    assert diff < WEIGHT_ATOL, diff

    # test: 15 clips, 2 processes; every clip once, in order
    ckpt = one / f'epoch_{EPOCHS}.pth'
    log1 = _check(subprocess.run([sys.executable, ROOT / 'tools/test.py', cfg1, ckpt, '--work-dir', one / 'test',
                                  '--dump', tmp_path / 'one.pkl'], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=1800, env=_env()), 'test.py')
    log2 = _check(subprocess.run(['bash', ROOT / 'tools/dist_test.sh', cfg1, ckpt, '2', '--work-dir', two / 'test',
                                  '--dump', tmp_path / 'two.pkl'], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=1800, env=_env(PORT=str(_free_port()))), 'dist_test.sh')
    # the same through MMEngine's slurm launcher: two tasks as srun starts them (SLURM_* variables), on the CPU
    slurm_port = str(_free_port())
    tasks = [subprocess.Popen([sys.executable, ROOT / 'tools/test.py', cfg1, ckpt, '--launcher', 'slurm',
                               '--work-dir', two / 'slurm', '--dump', tmp_path / 'slurm.pkl'], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS='2',
                                       SLURM_NODELIST='localhost', MASTER_ADDR='127.0.0.1', MASTER_PORT=slurm_port))
             for rank in (0, 1)]
    log3 = [_check(p, f'test.py --launcher slurm task {rank}') for rank, p in enumerate(tasks)][0]
    assert re.findall(r'acc/top1: ([0-9.]+)', log3)[-1] == re.findall(r'acc/top1: ([0-9.]+)', log2)[-1]
    d1, d2, d3 = (pickle.loads((tmp_path / f'{n}.pkl').read_bytes()) for n in ('one', 'two', 'slurm'))
    assert len(d3) == TOY['num_val']
    np.testing.assert_allclose(np.stack([np.asarray(d['pred_score']) for d in d3]),
                               np.stack([np.asarray(d['pred_score']) for d in d2]), rtol=0, atol=1e-6)
    assert len(d1) == len(d2) == TOY['num_val']
    s1 = np.stack([np.asarray(d['pred_score']) for d in d1])
    s2 = np.stack([np.asarray(d['pred_score']) for d in d2])
    assert [int(d['gt_label'][0]) for d in d1] == [int(d['gt_label'][0]) for d in d2]
    np.testing.assert_allclose(s2, s1, rtol=0, atol=1e-5)
    assert len({tuple(np.round(s, 6)) for s in s1}) == TOY['num_val']  # the clips are told apart by their scores
    top1 = [re.findall(r'acc/top1: ([0-9.]+)', log)[-1] for log in (log1, log2)]
    assert top1[0] == top1[1], top1

