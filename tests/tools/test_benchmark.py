"""tools/analysis/benchmark.py end to end at a tiny shape: JSON layout and positive measurements."""
import importlib.util
import json
import math
import os
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
        for key in ('clips_per_s', 's_per_clip', 'peak_mem_mb', 'achieved_tflops', 'mfu', 'gflops_per_clip'):
            assert entry['forward'][key] > 0, (impl, key)
        for key in ('step_s', 'peak_mem_mb', 'achieved_tflops', 'mfu', 'gflops_per_clip'):
            assert entry['train'][key] > 0, (impl, key)
        assert len(entry['forward']['iter_s']) == 1
        # counted forward FLOPs = the analytic count (+ the few the formula leaves out: the pooling head's
        # LayerNorm is not counted either way); a train step counts forward + backward ~ 3x the forward
        assert entry['forward']['gflops_per_clip'] == pytest.approx(report['model']['gflops_per_clip'], rel=0.02)
        assert 2.5 < entry['train']['gflops_per_clip'] / entry['forward']['gflops_per_clip'] < 3.5
        assert entry['forward']['mfu'] == pytest.approx(entry['forward']['achieved_tflops'])  # --peak-tflops 1
    ratio = report['ratio']
    for key in ('forward_speedup', 'forward_mem', 'train_speedup', 'train_mem'):
        assert ratio[key] > 0, key
    assert ratio['same_param_count'] is True  # the two encoders are the same size


def test_parse_args_phases():
    benchmark = load_script()
    args = benchmark.parse_args(['--phases', 'umt,forward', '--train', '--pretrain'])
    assert args.phase_list == ['forward', 'train', 'pretrain_dual', 'pretrain_v1', 'umt']
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--phases', 'pretrain'])


def test_ratios_are_reference_time_over_videofm_time():
    benchmark = load_script()
    entry = lambda s, mem=100.: dict(step_s=s, min_s=s * .9, peak_mem_mb=mem, clips_per_s=1 / s)  # noqa: E731
    report = dict(videofm=dict(pretrain_dual=entry(1.0, 50.), pretrain_v1=entry(1.8)),
                  official=dict(pretrain_dual=entry(2.0), pretrain_v1=entry(3.0, 200.)))
    ratio = benchmark.ratios(report, ['pretrain_dual', 'pretrain_v1'])
    assert ratio['pretrain_dual_vs_official_v1'] == pytest.approx(3.0)
    assert ratio['pretrain_dual_vs_official_v1_mem'] == pytest.approx(0.25)
    assert ratio['pretrain_dual_vs_v1'] == pytest.approx(1.8)
    assert ratio['official_dual_vs_official_v1'] == pytest.approx(1.5)
    assert ratio['pretrain_dual_vs_official_dual'] == pytest.approx(2.0)
    assert 'forward_speedup' not in ratio  # no mmaction2 entry


def _official_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import benchmark_pretrain
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return benchmark_pretrain


@pytest.mark.parametrize('dual', [True, False])
def test_official_reimplementation_gives_videofms_loss_with_the_same_weights_and_masks(dual):
    """The reference the pretraining benchmark times computes the same step as VideoFM's VideoMAEv2Pretrainer
    (official checkpoint names: one state dict loads into both): same targets, predictions and loss."""
    import torch

    from backbones import VideoMAEv2Pretrainer
    from backbones.masking import make_mask, mask_to_index
    official = _official_module()
    torch.manual_seed(0)
    spec = dict(embed_dim=64, depth=2, num_heads=2, head_dim=32, mlp_ratio=4., patch_size=8, tubelet_size=2)
    vf = VideoMAEv2Pretrainer(encoder=dict(img_size=32, num_frames=4, patch_size=8, tubelet_size=2, embed_dim=64,
                                           depth=2, num_heads=2),
                              decoder_dim=32, decoder_heads=2, decoder_depth=2,
                              decoder_mask=dict(kind='running_cell', ratio=0.5) if dual else None).eval()
    ref = official.OfficialPretrainModel(spec, 4, 32, decoder_dim=32, decoder_heads=2, decoder_depth=2).eval()
    ref.load_state_dict(vf.state_dict(), strict=True)
    x = torch.randn(2, 3, 4, 32, 32)
    grid = (2, 4, 4)
    enc = make_mask('tube', 2, grid, 0.75)
    dec = make_mask('running_cell', 2, grid, 0.5) if dual else None
    nv = int((~enc[0]).sum())
    with torch.no_grad():
        latent, vis_idx = vf.forward_encoder(x, enc, nv)
        query_idx = mask_to_index(dec, int((~dec[0]).sum())) if dual else mask_to_index(enc, 32 - nv, masked=True)
        pred = vf.forward_decoder(latent, vis_idx, query_idx, 32)
        loss = vf.forward_loss(x, pred, query_idx, enc if dual else None)
        ref_pred = ref(x, enc, dec)
        ref_loss = official.official_loss(ref_pred, official.official_targets(x, 8, 2), enc, dec)
        torch.testing.assert_close(official.official_targets(x, 8, 2), vf.targets(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ref_pred, pred, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ref_loss, loss, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_pretrain_and_umt_phases_with_checkpointing_at_a_tiny_shape(tmp_path):
    """benchmark_pretrain.py (a shortcut for benchmark.py's pretraining phases) + the UMT phase, checkpointing on."""
    out = tmp_path / 'pre.json'
    proc = subprocess.run([sys.executable, str(ROOT / 'tools/analysis/benchmark_pretrain.py'), '--arch', 'small',
                           '--frames', '4', '--size', '32', '--depth', '1', '--iters', '1', '--warmup', '0',
                           '--device', 'cpu', '--threads', '1', '--umt', '--umt-frames', '2', '--checkpointing',
                           '--peak-tflops', '1', '--out', str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report['config']['phases'] == ['pretrain_dual', 'pretrain_v1', 'umt']
    for impl, phase in [('videofm', 'pretrain_dual'), ('videofm', 'pretrain_v1'), ('official', 'pretrain_dual'),
                        ('official', 'pretrain_v1'), ('videofm', 'umt')]:
        entry = report[impl][phase]
        for key in ('step_s', 'peak_mem_mb', 'gflops_per_clip', 'achieved_tflops', 'mfu'):
            assert entry[key] > 0, (impl, phase, key)
        assert entry['checkpointing'] is True
    assert 'mmaction' not in report
    # dual masking decodes fewer tokens than encoder-only masking: fewer FLOPs, in both implementations
    for impl in ('videofm', 'official'):
        assert report[impl]['pretrain_dual']['gflops_per_clip'] < report[impl]['pretrain_v1']['gflops_per_clip']
    umt = report['videofm']['umt']
    assert umt['student'] == 'umt-base' and umt['teacher_params'] > 0 and umt['frames'] == 2
    for key in ('pretrain_dual_vs_official_v1', 'pretrain_dual_vs_v1', 'official_dual_vs_official_v1'):
        assert report['ratio'][key] > 0, key


@pytest.mark.slow
def test_gpu_check_cpu_smoke_prints_one_json_with_every_section(tmp_path):
    env = {**os.environ, 'PYTHON': sys.executable, 'GPU_CHECK_CPU_SMOKE': '1', 'GPU_CHECK_TIMEOUT': '1700'}
    proc = subprocess.run(['bash', str(ROOT / 'tools/analysis/gpu_check.sh'), '--peak-tflops', '2'],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert result['mode'] == 'cpu-smoke' and result['peak_tflops'] == 2
    for name in ('vit_b', 'vit_g'):
        for phase in ('forward', 'train'):
            entry = result[name][phase]
            assert entry['clips_per_s'] > 0 and entry['mfu'] > 0 and entry['peak_mem_mb'] > 0, (name, phase)
            assert entry['mfu'] == pytest.approx(entry['achieved_tflops'] / 2)
    pre = result['pretrain_b']
    for key in ('videofm_pretrain_dual', 'videofm_pretrain_v1', 'official_pretrain_dual', 'official_pretrain_v1'):
        assert pre[key]['step_s'] > 0, key
    assert pre['dual_vs_encoder_only'] > 0 and pre['dual_vs_official_encoder_only'] > 0
    mb = result['vit_g_max_batch']
    assert mb['max_batch'] == 4 and mb['capped'] is True and mb['checkpointing'] is False  # CPU: capped at 4
    assert [p['batch'] for p in mb['probes']] == [1, 2, 4] and all(p['fits'] for p in mb['probes'])
    fsdp = result['fsdp']
    assert fsdp['params_are_dtensors'] is True and fsdp['loss_finite'] is True and fsdp['world_size'] == 1
    assert fsdp['backend'] == 'gloo' and fsdp['step_s'] > 0
    assert set(result['targets']) == {'vit_g_finetune_mfu', 'vit_g_max_batch_per_80gb', 'vit_b_pretrain_mfu',
                                      'dual_vs_encoder_only'}


@pytest.mark.slow
def test_data_benchmark_on_the_toy_videos(tmp_path):
    out = tmp_path / 'data.json'
    proc = subprocess.run([sys.executable, str(ROOT / 'tools/analysis/benchmark_data.py'), '--cases',
                           'toy_recognition,toy_pretraining', '--items', '2', '--warmup', '0', '--synthetic', 'off',
                           '--gpu-clips-per-s', 'toy_recognition=1000', '--out', str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    rec, pre = report['cases']['toy_recognition/toy'], report['cases']['toy_pretraining/toy']
    assert rec['clips'] == 2 and pre['clips'] == 4  # the toy pretraining dataset gives 2 clips per decoded video
    assert rec['clips_per_s'] > 0 and pre['clips_per_s'] > 0
    need = report['workers_needed']['toy_recognition/toy']
    assert need['workers'] == math.ceil(1000 / rec['clips_per_s'])
