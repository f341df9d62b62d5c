"""TADmAP under torch.distributed (2 gloo processes): MMEngine's sampler pads the last round with a repeat of the
first video; the metric must give the single-process numbers, counting every video once."""
import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from backbones.compat import leave_distributed_process

GT = dict(database={v: dict(subset='test', annotations=[dict(segment=[1, 5], label='run')])
                    for v in ('a', 'b', 'c')})
PRED = {'a': ([[1, 5]], [.9]), 'b': ([[20, 30]], [.8]), 'c': ([[1, 5]], [.7])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, world, port, gt_file, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        from tasks.tad.metric import TADmAP
        metric = TADmAP(gt_file, 'test', tiou_thresholds=[0.5], classes=['run'])
        # DefaultSampler(round_up=True) over 3 videos and 2 ranks: rank 0 gets a, c; rank 1 gets b, a (padding)
        shard = [['a', 'c'], ['b', 'a']][rank]
        metric.process({}, [dict(video_name=v, pred_instances=dict(
            segments=torch.tensor(PRED[v][0], dtype=torch.float32), labels=torch.tensor([0]),
            scores=torch.tensor(PRED[v][1]))) for v in shard])
        res = metric.evaluate(3)
        with open(os.path.join(out_dir, f'{rank}.json'), 'w') as f:
            json.dump(res, f)
        dist.barrier()  # no rank tears the group down while the other still talks to it (gloo aborts then)
    finally:
        dist.destroy_process_group()
    leave_distributed_process()  # no interpreter finalisation: gloo can abort there (backbones.compat, workaround 5)


@pytest.mark.slow
def test_distributed_collection_counts_each_video_once(tmp_path):
    gt_file = tmp_path / 'gt.json'
    gt_file.write_text(json.dumps(GT))
    mp.spawn(_worker, args=(2, _free_port(), str(gt_file), str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f'{r}.json').read_text()) for r in range(2)]
    # ranked a (.9, TP), b (.8, FP), c (.7, TP): AP = 1/3 * 1 + 1/3 * 2/3 (3 GT, 2 found)
    assert results[0] == results[1]
    assert results[0]['tad/mAP@0.5'] == pytest.approx(1 / 3 + 2 / 9)
