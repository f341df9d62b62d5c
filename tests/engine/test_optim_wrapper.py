"""NonFiniteLossOptimWrapper: a NaN / Inf loss never reaches the weights ('raise' names the last good checkpoint,
'skip' counts); it composes with any wrapper class; VideoFMRunner applies the config's ``non_finite_loss``."""
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from tasks.engine.optim_wrapper import AutocastOptimWrapper, NonFiniteLossOptimWrapper, with_non_finite_check


def _model_and_optim():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _loss(model, scale=1.0):
    return model(torch.ones(2, 3)).sum() * scale


@pytest.fixture
def hub():
    hub = MessageHub.get_instance('test_non_finite_loss')
    hub.update_info('epoch', 1)  # 0-based, as RuntimeInfoHook writes them
    hub.update_info('iter', 6)
    return hub


def test_raise_names_epoch_iter_loss_and_last_checkpoint(tmp_path, hub):
    model, optim = _model_and_optim()
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    wrapper = NonFiniteLossOptimWrapper(optimizer=optim, work_dir=str(tmp_path))
    wrapper.message_hub = hub
    before = model.weight.detach().clone()
    wrapper.update_params(_loss(model))  # finite: a normal step
    assert not model.weight.detach().equal(before)
    after_good = model.weight.detach().clone()
    with pytest.raises(FloatingPointError, match=r'non-finite training loss nan at epoch 2, iter 7; .*'
                       r'Last good checkpoint: .*epoch_1\.pth'):
        wrapper.update_params(_loss(model, float('nan')))
    assert model.weight.detach().equal(after_good)


def test_skip_zeroes_the_step_counts_and_stops_after_too_many_in_a_row(hub):
    model, optim = _model_and_optim()
    wrapper = NonFiniteLossOptimWrapper(optimizer=optim, non_finite_policy='skip', max_consecutive_skips=3)
    wrapper.message_hub = hub
    before = model.weight.detach().clone()
    for _ in range(2):
        wrapper.update_params(_loss(model, float('inf')))
    assert model.weight.detach().equal(before) and model.weight.grad is None or not model.weight.grad.any()
    assert hub.get_scalar('train/nonfinite_skipped').current() == 2
    wrapper.update_params(_loss(model))  # a finite step resets the count in a row
    assert wrapper.consecutive == 0 and not model.weight.detach().equal(before)
    wrapper.update_params(_loss(model, float('nan')))
    wrapper.update_params(_loss(model, float('nan')))
    with pytest.raises(FloatingPointError, match='3 non-finite steps in a row with policy skip'):
        wrapper.update_params(_loss(model, float('nan')))


def test_bad_settings_fail_when_built():
    _, optim = _model_and_optim()
    with pytest.raises(ValueError, match='non_finite_policy'):
        NonFiniteLossOptimWrapper(optimizer=optim, non_finite_policy='ignore')
    with pytest.raises(ValueError, match='max_consecutive_skips'):
        NonFiniteLossOptimWrapper(optimizer=optim, max_consecutive_skips=0)


def test_composes_with_the_configs_wrapper_class(hub):
    model, optim = _model_and_optim()
    plain = with_non_finite_check(dict(optimizer=dict(type='SGD', lr=0.1)), policy='skip', work_dir='w')
    assert plain['type'] is NonFiniteLossOptimWrapper
    assert (plain['non_finite_policy'], plain['max_consecutive_skips'], plain['work_dir']) == ('skip', 20, 'w')
    cfg = with_non_finite_check(dict(type='AutocastOptimWrapper', dtype='bfloat16', non_finite_policy='raise'),
                                policy='skip')
    cls = cfg['type']
    assert issubclass(cls, NonFiniteLossOptimWrapper) and issubclass(cls, AutocastOptimWrapper)
    assert cfg['non_finite_policy'] == 'raise'  # the wrapper's own setting wins
    assert with_non_finite_check(dict(type=AutocastOptimWrapper))['type'] is cls  # one class per wrapper
    amp = with_non_finite_check(dict(type='AmpOptimWrapper'))['type']
    assert amp.__mro__[1:3] == (NonFiniteLossOptimWrapper, AmpOptimWrapper)  # check first, then AMP's scaling
    assert with_non_finite_check(dict(type=NonFiniteLossOptimWrapper))['type'] is NonFiniteLossOptimWrapper
    wrapper = cls(optimizer=optim, dtype='bfloat16', device_type='cpu', non_finite_policy='skip')
    wrapper.message_hub = hub
    with wrapper.optim_context(model):
        loss = _loss(model)
    wrapper.update_params(loss)
    wrapper.update_params(_loss(model, float('nan')))
    assert wrapper.skipped == 1 and isinstance(wrapper, OptimWrapper)


def test_runner_applies_the_config_knob(tmp_path):
    from mmengine.config import Config

    from tasks.engine.runner import VideoFMRunner
    runner = VideoFMRunner.__new__(VideoFMRunner)  # only build_optim_wrapper is exercised
    runner.cfg = Config(dict(non_finite_loss=dict(policy='skip', max_consecutive_skips=5)))
    runner._work_dir = str(tmp_path)
    runner.model = nn.Linear(3, 1)
    wrapper = runner.build_optim_wrapper(dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    assert isinstance(wrapper, NonFiniteLossOptimWrapper)
    assert (wrapper.non_finite_policy, wrapper.max_consecutive_skips, wrapper.work_dir) == ('skip', 5, str(tmp_path))
    runner.cfg = Config(dict(non_finite_loss=None))
    assert type(runner.build_optim_wrapper(dict(optimizer=dict(type='SGD', lr=0.1)))) is OptimWrapper
    runner.cfg = Config(dict(non_finite_loss=dict(polcy='skip')))
    with pytest.raises(ValueError, match='non_finite_loss must be'):
        runner.build_optim_wrapper(dict(optimizer=dict(type='SGD', lr=0.1)))
