"""tools/analysis/benchmark.py end to end at a tiny shape: JSON layout and positive measurements."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'analysis' / 'benchmark.py'


def load_script():
    spec = importlib.util.spec_from_file_location('videofm_benchmark', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a plain script: importing it runs nothing
    return module


def test_fastest_round_is_kept():
    benchmark = load_script()
    rounds = [dict(median_s=2.0, impl='a'), dict(error='worker exited with code 1'),
              dict(median_s=1.5, impl='b')]
    best = benchmark._fastest(rounds)
    assert best['impl'] == 'b' and best['round_median_s'] == [2.0, None, 1.5]
    assert 'error' in benchmark._fastest([dict(error='x')])


def test_model_flops_counted_by_torch_match_the_analytic_formula():
    benchmark = load_script()
    # ViT-B 16x224: the papers' "180 G" (MACs)
    spec = dict(embed_dim=768, depth=12, num_heads=12, head_dim=64, mlp_ratio=4., patch_size=16,
                tubelet_size=2, in_channels=3)
    flops = benchmark.model_flops(spec, 16, 224)
    assert flops['tokens'] == 1568
    n, c = 1568, 768
    patch, attn, mlp = n * c * 3 * 2 * 16 * 16, 12 * (3 * n * c * c + 2 * n * n * c + n * c * c), 12 * 2 * n * c * 4 * c
    assert flops['gmacs'] == (patch + attn + mlp) / 1e9 and flops['gflops'] == 2 * flops['gmacs']
    assert flops['gmacs_by_part'] == dict(patch_embed=patch / 1e9, attention=attn / 1e9, mlp=mlp / 1e9)
    assert round(flops['gmacs']) == 180
    # ViT-g: head_dim 88 and mlp 48/11 at 14x14 patches
    giant = dict(embed_dim=1408, depth=1, num_heads=16, head_dim=88, mlp_ratio=48 / 11, patch_size=14,
                 tubelet_size=2, in_channels=3)
    n, c, a, m = 2048, 1408, 16 * 88, 6144
    macs = n * c * 3 * 2 * 14 * 14 + 3 * n * c * a + 2 * n * n * a + n * a * c + 2 * n * c * m
    assert benchmark.model_flops(giant, 16, 224)['gmacs'] == macs / 1e9


def test_benchmark_runs_at_a_tiny_shape(tmp_path):
    out = tmp_path / 'bench.json'
    cmd = [sys.executable, str(SCRIPT), '--arch', 'small', '--frames', '4', '--img', '32', '--depth', '1',
           '--iters', '1', '--warmup', '0', '--device', 'cpu', '--threads', '1', '--train',
           '--peak-tflops', '1', '--out', str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == report
    assert '[benchmark]' in proc.stderr  # progress goes to stderr, only JSON to stdout

    assert report['config']['depth'] == 1 and report['config']['threads'] == 1
    assert report['model']['tokens'] == 8
    assert report['model']['gflops_per_clip'] > 0
    for impl in ('videofm', 'mmaction'):
        entry = report[impl]
        assert entry['params'] > 0
        for key in ('clips_per_s', 's_per_clip', 'peak_mem_mb', 'achieved_tflops', 'mfu'):
            assert entry['forward'][key] > 0, (impl, key)
        for key in ('step_s', 'peak_mem_mb', 'achieved_tflops', 'mfu'):
            assert entry['train'][key] > 0, (impl, key)
        assert len(entry['forward']['iter_s']) == 1
    ratio = report['ratio']
    for key in ('forward_speedup', 'forward_mem', 'train_speedup', 'train_mem'):
        assert ratio[key] > 0, key
    assert ratio['same_param_count'] is True  # the two encoders are the same size


@pytest.mark.slow
def test_pretrain_benchmark_runs_at_a_tiny_shape():
    out = subprocess.run([sys.executable, str(ROOT / 'tools/analysis/benchmark_pretrain.py'), '--arch', 'small',
                          '--frames', '4', '--size', '64', '--iters', '1', '--warmup', '0'],
                         capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result['results']) == {'dual', 'encoder-only'}
    assert all(r['step_s'] > 0 and r['peak_mib'] > 0 for r in result['results'].values())
    assert result['speedup'] > 0
