"""Fully sharded data parallel training (torch FSDP2) inside MMEngine's Runner, with sharded checkpoints.

A config selects it with ``model_wrapper_cfg = dict(type='videofm.VideoFMFSDP', ...)`` (``configs/_base_/fsdp.py``
lists every option; ``--cfg-options model_wrapper_cfg.type=videofm.VideoFMFSDP`` does the same from the command
line) and a distributed launcher (``tools/dist_train.sh``, or ``tools/train.py --launcher pytorch`` under
torchrun / Slurm). MMEngine's own FSDP path (``FlexibleRunner`` + ``FSDPStrategy``) is not used: it wraps torch's
FSDP1, which needs CUDA (``device_id=LOCAL_RANK``), and its sharded resume is broken in mmengine 0.10.7. FSDP2
(``torch.distributed.fsdp.fully_shard``) shards parameters as DTensors, runs on CPU with gloo (so it is tested
here) and on GPUs with NCCL, and its state dicts go to ``torch.distributed.checkpoint`` (DCP) without a gather.

* :class:`VideoFMFSDP` (a registered MODEL_WRAPPER): initialises the weights (MMEngine's ``init_weights``) and makes
  every rank start from rank 0's values, as DDP does; then ``fully_shard`` on every sharding unit (transformer
  blocks: ``VideoViT`` / CLIP / decoder ``Block``, BERT's ``BertLayer``; a model may name its own with a
  ``fsdp_units()`` method) and on the root; 0-dim trainable parameters (a temperature), which FSDP2 cannot
  shard, stay whole with their gradients averaged over the ranks. Frozen parameters (``requires_grad=False``: a
  frozen encoder, frozen stages) stay out of sharding (``ignored_params``: plain, replicated tensors) and out
  of the optimiser state; the UMT stage-1 CLIP teacher is not a submodule at all. Options: bf16 mixed precision
  (``MixedPrecisionPolicy``: bf16 parameters in compute, fp32 gradient reduction, fp32 sharded master weights;
  the forward runs under ``torch.autocast`` in bf16 too, for modules outside the sharded tree such as the teacher;
  evaluation loops that call model methods directly instead of ``val_step`` enter :meth:`VideoFMFSDP.autocast`,
  as the retrieval loops do),
  activation checkpointing per block, ``reshard_after_forward``. ``train_step`` / ``val_step`` / ``test_step``
  follow MMEngine's ``MMDistributedDataParallel``, so loops, hooks, logging and optimiser wrappers (gradient
  accumulation through :meth:`VideoFMFSDP.no_sync`, gradient clipping on DTensor gradients) work unchanged.
  Loading an ordinary (full) checkpoint into the sharded model (``load_from``, ``tools/test.py``) goes through
  the usual converters: a load pre-hook cuts every full tensor into this rank's shard.
* Sharded checkpoints (:func:`save_sharded_checkpoint`): the checkpoint hook's ``epoch_N.pth`` / ``iter_N.pth``
  is a DIRECTORY (as MMEngine's DeepSpeed checkpoints), written by every rank at once: DCP files with the model
  (``state_dict``) and optimiser (``optimizer``, keyed by parameter names) shards, and ``runner_state.pth`` with
  what MMEngine's checkpoint holds besides (``meta``, ``message_hub``, ``param_schedulers``, the optimiser
  wrapper's own state such as a loss scaler) and every rank's RNG states. It is written to a temporary
  directory and renamed into place, so a run killed while saving leaves the previous checkpoint intact.
  :func:`resume_sharded` restores all of it (``--resume`` / ``--resume DIR``); DCP reshards, so a run may resume
  on another number of processes (the RNG states are then not restored, and the log says so).
* :func:`merge_sharded_checkpoint` (``tools/merge_checkpoint.py``): one ``{'meta', 'state_dict', 'message_hub'}``
  file that ``tools/test.py``, ``load_from`` and the converters read like any Runner checkpoint.
"""
import os
import os.path as osp
import random
import shutil
from contextlib import contextmanager
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.distributed as dist
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from backbones.registry import MODEL_WRAPPERS

__all__ = ['VideoFMFSDP', 'build_fsdp', 'selects_fsdp', 'is_fsdp', 'is_sharded_checkpoint', 'save_sharded_checkpoint',
           'resume_sharded', 'load_sharded_model', 'merge_sharded_checkpoint', 'clip_grad_norm_', 'RUNNER_STATE']

#: The file of a sharded checkpoint directory that holds everything besides the model and optimiser shards.
RUNNER_STATE = 'runner_state.pth'
#: Class names that are sharding units by default: VideoFM's transformer block (VideoViT, VideoMAE V2
#: decoder, CLIP teacher) and BERT's layer (transformers / mmaction2, UMT stage 2).
DEFAULT_SHARD_MODULES = ('Block', 'BertLayer')


def _dtype(value: Union[None, str, torch.dtype]) -> Optional[torch.dtype]:
    if value is None or isinstance(value, torch.dtype):
        return value
    dtype = getattr(torch, {'bf16': 'bfloat16', 'fp16': 'float16', 'fp32': 'float32'}.get(value, value), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f'unknown dtype {value!r}: use bfloat16 / float16 / float32')
    return dtype


@MODEL_WRAPPERS.register_module()
class VideoFMFSDP(nn.Module):
    """FSDP2 (``fully_shard``) wrapper with MMEngine's model-wrapper interface.

    Args:
        module (nn.Module): The model (a ``BaseModel``), on its device; the Runner passes it.
        shard_modules (Sequence[str]): Class names of the sharding units, each ``fully_shard`` on its own (its
            parameters are gathered just before it runs and freed after). Default: ``('Block', 'BertLayer')``. A
            model with a ``fsdp_units()`` method (returning modules) decides itself and this is ignored.
        mixed_precision (str | dict, optional): ``'bf16'``: bf16 parameters and activations in the sharded
            modules, fp32 gradient reduction and fp32 master weights and optimiser state
            (``MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32)``). A dict gives the policy's
            fields (``param_dtype``, ``reduce_dtype``, ``output_dtype``, ``cast_forward_inputs``). None: fp32.
            The forward (train, val, test) also runs under ``torch.autocast`` in ``param_dtype``, so modules
            outside the sharded tree (UMT's frozen teacher) compute in it too.
        activation_checkpointing (bool): Recompute every block in backward (see
            :func:`enable_activation_checkpointing`).
        reshard_after_forward (bool): Free the gathered parameters of a unit after its forward (ZeRO-3, the
            default) or keep them until backward (ZeRO-2-like, more memory, one all-gather less).
        sync_module_states (bool): Copy rank 0's parameters and buffers to every rank before sharding (as DDP
            does at construction), so that ranks seeded differently still start from one model.
        device_ids: Accepted for the CPU launcher of ``tools/_bootstrap.py``, which sets ``None``; FSDP2 takes
            the device from the model.
    """

    def __init__(self, module: nn.Module, shard_modules: Sequence[str] = DEFAULT_SHARD_MODULES,
                 mixed_precision: Union[None, str, dict] = None, activation_checkpointing: bool = False,
                 reshard_after_forward: bool = True, sync_module_states: bool = True, device_ids=None):
        super().__init__()
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        if device_ids is not None:
            raise ValueError(f'VideoFMFSDP takes the device from the model; device_ids must be None, got {device_ids}')
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError('VideoFMFSDP needs torch.distributed: start with a launcher (tools/dist_train.sh, '
                               'torchrun ... tools/train.py --launcher pytorch, or Slurm)')
        if isinstance(shard_modules, str):
            shard_modules = (shard_modules, )
        self.shard_modules = tuple(shard_modules)
        self.mixed_precision = mixed_precision
        self.activation_checkpointing = activation_checkpointing

        # 1. weights as the Runner would initialise them, identical on every rank
        if hasattr(module, 'init_weights'):
            module.init_weights()
        if sync_module_states:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor.data if isinstance(tensor, nn.Parameter) else tensor, src=0)
        if activation_checkpointing:
            enable_activation_checkpointing(module)

        # 2. shard: units bottom-up, then the root (whatever no unit holds)
        device = next((p.device for p in module.parameters()), torch.device('cpu'))
        mesh = init_device_mesh(device.type, (dist.get_world_size(), ))
        policy = self._policy(mixed_precision, MixedPrecisionPolicy)
        self._device_type, self._autocast_dtype = device.type, policy.param_dtype
        units = list(module.fsdp_units()) if hasattr(module, 'fsdp_units') else [
            m for m in module.modules() if type(m).__name__ in self.shard_modules]
        if not units:
            raise ValueError(f'VideoFMFSDP: no module of {type(module).__name__} is a sharding unit (shard_modules='
                             f'{self.shard_modules}); name the block classes in model_wrapper_cfg.shard_modules')
        self.frozen = {p for p in module.parameters() if not p.requires_grad}
        # fully_shard cannot shard 0-dim parameters (UMT's temperature): they stay whole on every rank and their
        # gradients are averaged over the ranks as soon as they are accumulated, as DDP would
        self.replicated = {p for p in module.parameters() if p.requires_grad and p.dim() == 0}
        for p in self.replicated:
            p.register_post_accumulate_grad_hook(_average_grad)
        ignored = self.frozen | self.replicated
        self.num_units = 0
        for unit in units:
            params = list(unit.parameters())
            if not params or all(p in ignored for p in params):
                continue  # a frozen block stays whole and replicated, like every frozen parameter
            fully_shard(unit, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward,
                        ignored_params={p for p in params if p in ignored} or None)
            self.num_units += 1
        fully_shard(module, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward,
                    ignored_params=ignored or None)
        _register_full_tensor_load_hooks(module)
        self.module = module
        n_sharded = sum(p.numel() for p in module.parameters() if p not in self.frozen)
        n_frozen = sum(p.numel() for p in self.frozen)
        print_log(f'VideoFMFSDP: {self.num_units} sharding units + root over {dist.get_world_size()} processes; '
                  f'{n_sharded / 1e6:.2f}M parameters sharded, {n_frozen / 1e6:.2f}M frozen (replicated, not in '
                  f'the optimiser); mixed precision {mixed_precision}, activation checkpointing '
                  f'{activation_checkpointing}', logger='current')

    @staticmethod
    def _policy(mixed_precision, policy_cls):
        if mixed_precision is None:
            return policy_cls()
        if mixed_precision in ('bf16', 'bfloat16'):
            return policy_cls(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if isinstance(mixed_precision, dict):
            kwargs = dict(mixed_precision)
            for key in ('param_dtype', 'reduce_dtype', 'output_dtype'):
                if key in kwargs:
                    kwargs[key] = _dtype(kwargs[key])
            return policy_cls(**kwargs)
        raise ValueError("mixed_precision must be None, 'bf16' or a MixedPrecisionPolicy dict, got "
                         f'{mixed_precision!r}')

    def autocast(self):
        """With mixed precision, autocast in the parameter dtype around every forward: modules outside the sharded
        tree (UMT's frozen CLIP teacher, kept out of ``parameters()``) then take the bf16 inputs the sharded root
        receives; the sharded modules compute in bf16 either way. Evaluation loops that call model methods directly
        (:func:`tasks.retrieval.evaluate_retrieval`) enter it too."""
        from contextlib import nullcontext
        if self._autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self._device_type, dtype=self._autocast_dtype)

    def train(self, mode: bool = True):
        """``eval()`` also gathers the root's own parameters (embedding, norms, heads; the blocks gather theirs when
        called), so that evaluation loops that call model methods directly (the retrieval loop's
        ``encode_vision``) rather than through the root's forward find whole tensors; ``train()`` shards them
        again."""
        was_training = self.training
        super().train(mode)
        if not mode and (was_training or not getattr(self, '_root_gathered', False)):
            self.module.unshard()
            self._root_gathered = True
        elif mode and getattr(self, '_root_gathered', False):
            self.module.reshard()
            self._root_gathered = False
        return self

    @contextmanager
    def sharded(self):
        """Every parameter a DTensor shard for the duration (state dicts, checkpoints), also in eval mode."""
        gathered = getattr(self, '_root_gathered', False)
        if gathered:
            self.module.reshard()
        try:
            yield self.module
        finally:
            if gathered:
                self.module.unshard()

    # ---------------------------------------------------------------- MMEngine's model wrapper interface
    def forward(self, *args, **kwargs):
        with self.autocast():
            return self.module(*args, **kwargs)

    def train_step(self, data: Union[dict, tuple, list], optim_wrapper) -> dict:
        """As ``MMDistributedDataParallel.train_step``: preprocess, forward in ``loss`` mode inside the optimiser
        wrapper's context, parse the losses, ``update_params``.

        Args:
            data (dict | tuple | list): A batch from the dataloader.
            optim_wrapper (OptimWrapper): The Runner's optimiser wrapper.

        Returns:
            dict[str, Tensor]: The logged loss values.
        """
        _use_dtensor_clip(optim_wrapper)
        with optim_wrapper.optim_context(self):
            data = self.module.data_preprocessor(data, training=True)
            losses = self._run_forward(data, mode='loss')
        parsed_loss, log_vars = self.module.parse_losses(losses)
        optim_wrapper.update_params(parsed_loss)
        return log_vars

    def val_step(self, data: Union[dict, tuple, list]) -> list:
        """The model's ``val_step`` (its forward goes through the sharded root, which gathers the parameters)."""
        with self.autocast():
            return self.module.val_step(data)

    def test_step(self, data: Union[dict, tuple, list]) -> list:
        """The model's ``test_step``."""
        with self.autocast():
            return self.module.test_step(data)

    def _run_forward(self, data, mode: str):
        if isinstance(data, dict):
            return self(**data, mode=mode)
        if isinstance(data, (list, tuple)):
            return self(*data, mode=mode)
        raise TypeError(f'Output of data_preprocessor should be list, tuple or dict, but got {type(data)}')

    @contextmanager
    def no_sync(self):
        """Gradient accumulation (``optim_wrapper.accumulative_counts``): no reduce-scatter until the last
        micro-batch (FSDP2 ``set_requires_gradient_sync``)."""
        self.module.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            self.module.set_requires_gradient_sync(True)


def selects_fsdp(model_wrapper_cfg) -> bool:
    """Whether a ``model_wrapper_cfg`` names :class:`VideoFMFSDP` (``VideoFMFSDP`` / ``videofm.VideoFMFSDP`` / the
    class)."""
    if not isinstance(model_wrapper_cfg, dict):
        return False
    kind = model_wrapper_cfg.get('type')
    return kind is VideoFMFSDP or (isinstance(kind, str) and kind.split('.')[-1] == 'VideoFMFSDP')


def build_fsdp(model_wrapper_cfg: dict, model: nn.Module, distributed: bool, logger=None) -> nn.Module:
    """The Runner's ``wrap_model`` for :class:`VideoFMFSDP`: the model moved to this process's device and sharded;
    without a process group (launcher ``none``) the plain model, with a warning.

    Args:
        model_wrapper_cfg (dict): ``dict(type='videofm.VideoFMFSDP', **options)``.
        model (nn.Module): The built model.
        distributed (bool): Whether the Runner runs distributed.
        logger: The Runner's logger.

    Returns:
        nn.Module: The wrapper, or the plain model.
    """
    from mmengine.device import get_device
    model = model.to(get_device())
    if not distributed:
        print_log('model_wrapper_cfg selects VideoFMFSDP, but the run is not distributed (launcher none): training '
                  'the plain model; start with tools/dist_train.sh or --launcher pytorch to shard it',
                  logger=logger if logger is not None else 'current', level=30)
        return model
    kwargs = {k: v for k, v in model_wrapper_cfg.items() if k != 'type'}
    return VideoFMFSDP(model, **kwargs)


def _average_grad(param: torch.Tensor) -> None:
    """Post-accumulate-grad hook of a replicated trainable parameter: the mean of its gradient over the ranks.
    With gradient accumulation the already averaged part is equal on every rank, so averaging again after each
    micro-batch still gives the mean of the sums."""
    dist.all_reduce(param.grad)
    param.grad.div_(dist.get_world_size())


def enable_activation_checkpointing(module: nn.Module) -> int:
    """Switch on activation checkpointing per block in every submodule that supports it.

    Args:
        module (nn.Module): The model.

    Returns:
        int: How many submodules were switched (0 raises: the option would silently do nothing): those with
        ``set_grad_checkpointing`` (VideoViT), a boolean ``with_cp`` (the VideoMAE V2 decoder) or
        ``gradient_checkpointing_enable`` (transformers models, non-reentrant).
    """
    count = 0
    for m in module.modules():
        if hasattr(m, 'gradient_checkpointing_enable'):  # a transformers model (UMT stage 2's BERT): its layers
            m.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
            count += 1
        elif hasattr(m, 'set_grad_checkpointing'):
            m.set_grad_checkpointing(True)
            count += 1
        elif hasattr(m, 'with_cp') and isinstance(getattr(m, 'with_cp'), bool):
            m.with_cp = True
            count += 1
    if not count:
        raise ValueError(f'activation_checkpointing=True, but no submodule of {type(module).__name__} supports it '
                         '(set_grad_checkpointing / with_cp / gradient_checkpointing)')
    return count


def _register_full_tensor_load_hooks(root: nn.Module) -> None:
    """Let ``load_state_dict`` take full (unsharded) tensors: each module with DTensor parameters or buffers gets a
    pre-hook that cuts this rank's shard out of a full tensor (``distribute_tensor(src_data_rank=None)``: every
    rank reads the same file, no communication). DTensors (a sharded state dict) pass unchanged."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    def hook(module, state_dict, prefix, *args):
        for name, value in [*module._parameters.items(), *module._buffers.items()]:
            key = prefix + name
            if isinstance(value, DTensor) and key in state_dict and not isinstance(state_dict[key], DTensor):
                full = state_dict[key]
                if tuple(full.shape) != tuple(value.shape):
                    continue  # load_state_dict reports the shape mismatch by name
                state_dict[key] = distribute_tensor(full.to(device=value.device, dtype=value.dtype),
                                                    value.device_mesh, value.placements, src_data_rank=None)

    for m in root.modules():
        if any(isinstance(v, DTensor) for v in [*m._parameters.values(), *m._buffers.values()]):
            m.register_load_state_dict_pre_hook(hook)


def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` for sharded (DTensor) gradients: the norm is over the FULL gradients
    (the shards' norms combined across ranks), returned as a plain tensor, identical on every rank.

    Args:
        parameters (Iterable[Tensor]): Parameters with ``.grad`` (DTensor or plain).
        max_norm (float): Largest allowed total norm.
        norm_type (float): p of the p-norm.

    Returns:
        Tensor: The total norm before clipping (scalar).
    """
    from torch.distributed.tensor import DTensor
    parameters = [p for p in parameters if p.grad is not None]
    groups = [[p for p in parameters if isinstance(p.grad, DTensor)],  # sharded
              [p for p in parameters if not isinstance(p.grad, DTensor)]]  # replicated (0-dim), equal on all ranks
    norms = []
    for group in groups:
        if group:
            norm = torch.nn.utils.get_total_norm([p.grad for p in group], norm_type, error_if_nonfinite, foreach)
            norms.append(norm.full_tensor() if isinstance(norm, DTensor) else norm)
    if not norms:
        return torch.tensor(0.)
    total = torch.linalg.vector_norm(torch.stack([n.float().to(norms[0].device) for n in norms]), norm_type)
    for group in groups:
        if group:
            torch.nn.utils.clip_grads_with_norm_(group, max_norm, total, foreach)
    return total


def _use_dtensor_clip(optim_wrapper) -> None:
    """MMEngine's ``OptimWrapper`` clips with ``torch.nn.utils.clip_grad_norm_`` and logs ``float(norm)``; with
    sharded gradients it gets :func:`clip_grad_norm_` (the full gradients' norm)."""
    wrappers = optim_wrapper.values() if hasattr(optim_wrapper, 'values') else [optim_wrapper]
    for wrapper in wrappers:
        if getattr(wrapper, 'clip_func', None) is torch.nn.utils.clip_grad_norm_:
            wrapper.clip_func = clip_grad_norm_


def is_fsdp(model) -> bool:
    """Whether ``model`` is the :class:`VideoFMFSDP` wrapper."""
    return isinstance(model, VideoFMFSDP)


def is_sharded_checkpoint(path) -> bool:
    """Whether ``path`` is a sharded checkpoint directory (DCP's ``.metadata`` + :data:`RUNNER_STATE`)."""
    return osp.isdir(str(path)) and osp.isfile(osp.join(str(path), '.metadata'))


def _unwrap(model) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


@contextmanager
def _sharded(model):
    """The unwrapped model, with every parameter sharded if it is a :class:`VideoFMFSDP`."""
    if is_fsdp(model):
        with model.sharded() as module:
            yield module
    else:
        yield _unwrap(model)


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _barrier() -> None:
    if _world() > 1:
        dist.barrier()


def _broadcast(obj):
    if _world() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


def _single_optim_wrapper(runner):
    from mmengine.optim import OptimWrapper
    wrapper = runner.optim_wrapper
    if not isinstance(wrapper, OptimWrapper):
        raise TypeError('sharded checkpoints support one OptimWrapper (not an OptimWrapperDict / a config), got '
                        f'{type(wrapper).__name__}')
    return wrapper


def save_sharded_checkpoint(runner, out_dir: str, filename: str, file_client_args: Optional[dict] = None,
                            save_optimizer: bool = True, save_param_scheduler: bool = True,
                            meta: Optional[dict] = None, by_epoch: bool = True,
                            backend_args: Optional[dict] = None) -> str:
    """Save a sharded checkpoint directory ``out_dir/filename`` (every rank calls it; see the module docstring).

    The arguments are those of ``Runner.save_checkpoint``, which the checkpoint hook calls; the meta data are
    MMEngine's (``epoch``, ``iter``, ``cfg``, ``seed``, ``experiment_name``, ``time``, ``mmengine_version``,
    ``dataset_meta``).

    Returns:
        str: The checkpoint directory.
    """
    import time

    import mmengine
    import torch.distributed.checkpoint as dcp
    from mmengine.utils import apply_to
    from torch.distributed.checkpoint.state_dict import get_state_dict, get_model_state_dict
    if file_client_args is not None or backend_args is not None or '://' in str(out_dir):
        raise ValueError(f'sharded checkpoints are written to a local or shared file system, not {out_dir!r} '
                         'with backend arguments')
    meta = {} if meta is None else dict(meta)
    if by_epoch:
        meta.setdefault('epoch', runner.epoch + 1)
        meta.setdefault('iter', runner.iter)
    else:
        meta.setdefault('epoch', runner.epoch)
        meta.setdefault('iter', runner.iter + 1)
    meta.update(cfg=runner.cfg.pretty_text, seed=runner.seed, experiment_name=runner.experiment_name,
                time=time.strftime('%Y%m%d_%H%M%S', time.localtime()), mmengine_version=mmengine.__version__,
                world_size=_world(), sharded=True)
    if hasattr(runner.train_dataloader.dataset, 'metainfo'):
        meta.update(dataset_meta=runner.train_dataloader.dataset.metainfo)

    shards = {}
    with _sharded(runner.model) as model:  # the checkpoint hook also saves in eval mode (a new best)
        if save_optimizer:
            wrapper = _single_optim_wrapper(runner)
            shards['state_dict'], shards['optimizer'] = get_state_dict(model, wrapper.optimizer)
        else:
            shards['state_dict'] = get_model_state_dict(model)
    state = dict(meta=meta, message_hub=apply_to(runner.message_hub.state_dict(), lambda x: hasattr(x, 'cpu'),
                                                 lambda x: x.cpu()))
    if save_optimizer:  # the wrapper's own state (AmpOptimWrapper's loss scaler, ...) without the optimiser's
        state['optim_wrapper'] = {k: v for k, v in wrapper.state_dict().items() if k not in ('state', 'param_groups')}
    if save_param_scheduler and runner.param_schedulers is not None:
        schedulers = runner.param_schedulers
        state['param_schedulers'] = ({name: [s.state_dict() for s in group] for name, group in schedulers.items()}
                                     if isinstance(schedulers, dict) else [s.state_dict() for s in schedulers])
    # hooks see (and may add to) the checkpoint as with a single file; the shards are in 'state_dict' / 'optimizer'
    checkpoint = dict(state, **shards)
    runner.call_hook('before_save_checkpoint', checkpoint=checkpoint)
    extra = {k: v for k, v in checkpoint.items() if k not in shards}
    rng = [None] * _world()
    if _world() > 1:
        dist.all_gather_object(rng, _rng_state())
    else:
        rng = [_rng_state()]
    extra['rng'] = rng

    final = osp.join(out_dir, filename)
    tmp = osp.join(out_dir, f'.{filename}.tmp-{_broadcast(os.getpid())}')
    if _rank() == 0:
        os.makedirs(out_dir, exist_ok=True)
        if osp.isdir(tmp):
            shutil.rmtree(tmp)
    _barrier()
    try:
        dcp.save(shards, checkpoint_id=tmp)
        if _rank() == 0:
            torch.save(extra, osp.join(tmp, RUNNER_STATE))
            old = None
            if osp.exists(final):  # the checkpoint hook saves the same step again after a new best
                old = osp.join(out_dir, f'.{filename}.old.tmp-{os.getpid()}')  # swept like any leftover
                os.replace(final, old)
            os.replace(tmp, final)
            if old is not None and osp.isdir(old):
                shutil.rmtree(old)
            elif old is not None:
                os.remove(old)
    finally:
        _barrier()
        if _rank() == 0 and osp.isdir(tmp):
            shutil.rmtree(tmp)
    return final


def _read_runner_state(path: str) -> dict:
    state_file = osp.join(path, RUNNER_STATE)
    if not osp.isfile(state_file):
        raise FileNotFoundError(f'{path}: not a complete sharded checkpoint ({RUNNER_STATE} is missing)')
    # safe loading: MMEngine's checkpoint types are allow-listed by backbones.compat
    return torch.load(state_file, map_location='cpu', weights_only=True)


def load_sharded_model(model: nn.Module, path: str, strict: bool = True) -> dict:
    """Load the model shards of a sharded checkpoint into ``model`` (sharded or not, any number of processes:
    DCP reshards; every rank calls it).

    Args:
        model (nn.Module): The model (a :class:`VideoFMFSDP`, another wrapper or a plain module).
        path (str): The checkpoint directory.
        strict (bool): Every model weight must be in the checkpoint (and nothing else).

    Returns:
        dict: ``{'meta', 'message_hub', ...}`` of the checkpoint (no tensors of the model).
    """
    if not is_sharded_checkpoint(path):
        raise FileNotFoundError(f'{path}: not a sharded checkpoint directory (no .metadata)')
    with _sharded(model) as module:  # into the shards, also in eval mode
        _load_model_shards(module, path, strict)
    return _read_runner_state(path)


def _load_model_shards(model: nn.Module, path: str, strict: bool) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         set_model_state_dict)
    state = {'state_dict': get_model_state_dict(model)}
    if strict:
        saved = {k[len('state_dict.'):] for k in dcp.FileSystemReader(path).read_metadata().state_dict_metadata
                 if k.startswith('state_dict.')}
        missing, unexpected = sorted(set(state['state_dict']) - saved), sorted(saved - set(state['state_dict']))
        if missing or unexpected:
            from backbones.checkpoint import PartialLoadError
            raise PartialLoadError(f'{path}: the sharded checkpoint does not fit {type(model).__name__}: missing '
                                   f'{missing[:10]}{"..." if len(missing) > 10 else ""}, unexpected '
                                   f'{unexpected[:10]}{"..." if len(unexpected) > 10 else ""}')
    dcp.load(state, checkpoint_id=path, planner=dcp.DefaultLoadPlanner(allow_partial_load=not strict))
    set_model_state_dict(model, state['state_dict'], options=StateDictOptions(strict=strict))


def resume_sharded(runner, path: str, resume_optimizer: bool = True, resume_param_scheduler: bool = True) -> None:
    """``Runner.resume`` from a sharded checkpoint directory: model and optimiser shards, epoch / iteration,
    message hub, parameter schedulers, the optimiser wrapper's state and (same number of processes) every rank's
    RNG states, so that the next step equals the uninterrupted run's.

    Args:
        runner (Runner): The runner (its model, optimiser wrapper and schedulers are built).
        path (str): The checkpoint directory.
        resume_optimizer (bool): Restore the optimiser.
        resume_param_scheduler (bool): Restore the parameter schedulers.
    """
    import pickle

    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (get_model_state_dict, get_state_dict,
                                                         set_model_state_dict, set_state_dict)
    if not is_sharded_checkpoint(path):
        raise FileNotFoundError(f'{path}: not a sharded checkpoint directory (no .metadata)')
    extra = _read_runner_state(path)
    saved_keys = dcp.FileSystemReader(path).read_metadata().state_dict_metadata
    with_optimizer = resume_optimizer and any(k.startswith('optimizer.') for k in saved_keys)
    if with_optimizer:
        runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    with _sharded(runner.model) as model:  # into the shards, also in eval mode
        if with_optimizer:
            wrapper = _single_optim_wrapper(runner)
            model_sd, optim_sd = get_state_dict(model, wrapper.optimizer)
            state = {'state_dict': model_sd, 'optimizer': optim_sd}
            dcp.load(state, checkpoint_id=path)
            set_state_dict(model, wrapper.optimizer, model_state_dict=state['state_dict'],
                           optim_state_dict=state['optimizer'])
            if extra.get('optim_wrapper'):
                full = wrapper.state_dict()
                full.update(extra['optim_wrapper'])
                wrapper.load_state_dict(full)
        else:
            state = {'state_dict': get_model_state_dict(model)}
            dcp.load(state, checkpoint_id=path)
            set_model_state_dict(model, state['state_dict'])
    runner.call_hook('after_load_checkpoint', checkpoint=extra)

    meta = extra['meta']
    runner.train_loop._epoch = meta['epoch']
    runner.train_loop._iter = meta['iter']
    resumed_seed, current_seed = meta.get('seed'), runner._randomness_cfg.get('seed')
    if resumed_seed is not None and resumed_seed != current_seed:
        if current_seed is not None:
            runner.logger.warning(f'The random seed in the checkpoint "{resumed_seed}" differs from the '
                                  f'`randomness` config "{current_seed}"; the checkpoint\'s is used')
        runner._randomness_cfg.update(seed=resumed_seed)
        runner.set_randomness(**runner._randomness_cfg)
    dataset_meta = getattr(runner.train_dataloader.dataset, 'metainfo', None)
    if pickle.dumps(meta.get('dataset_meta')) != pickle.dumps(dataset_meta):
        runner.logger.warning(f'{path}: the dataset metainfo differs from the current training dataset\'s')
    runner.message_hub.load_state_dict(extra['message_hub'])
    if resume_param_scheduler and runner.param_schedulers is not None and 'param_schedulers' in extra:
        runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
        saved = extra['param_schedulers']
        if isinstance(runner.param_schedulers, dict):
            for name, group in runner.param_schedulers.items():
                for scheduler, state_dict in zip(group, saved[name]):
                    scheduler.load_state_dict(state_dict)
        else:
            for scheduler, state_dict in zip(runner.param_schedulers, saved):
                scheduler.load_state_dict(state_dict)
    rng = extra.get('rng') or []
    if len(rng) == _world():
        _set_rng_state(rng[_rank()])
    else:
        runner.logger.warning(f'{path} was saved by {len(rng)} processes, this run has {_world()}: the weights, '
                              'optimiser and schedules are resharded, the RNG states are not restored')
    runner._has_loaded = True
    runner.logger.info(f'resumed from the sharded checkpoint {path}: epoch {runner.epoch}, iter {runner.iter}')


def merge_sharded_checkpoint(path: str, out_file: str, with_optimizer: bool = False) -> dict:
    """Merge a sharded checkpoint directory into one MMEngine checkpoint file, in one process (no process group).

    Args:
        path (str): The sharded checkpoint directory (``work_dir/epoch_N.pth``).
        out_file (str): The file to write (``{'meta', 'state_dict', 'message_hub'[, 'param_schedulers',
            'optimizer']}``), written atomically.
        with_optimizer (bool): Also keep the optimiser state (keyed by parameter names, as
            ``torch.distributed.checkpoint.state_dict`` gives it; useful for inspection, not for ``--resume``,
            which reads the sharded directory).

    Returns:
        dict: The merged checkpoint.
    """
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    if not is_sharded_checkpoint(path):
        raise FileNotFoundError(f'{path}: not a sharded checkpoint directory (no .metadata); '
                                'it may be a single-file checkpoint already')
    extra = _read_runner_state(path)
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    tmp = osp.join(out_dir, f'.{osp.basename(out_file)}.tmp-{os.getpid()}')
    try:
        dcp_to_torch_save(path, tmp)
        shards = torch.load(tmp, map_location='cpu', weights_only=True)
        merged = dict(meta=extra['meta'], state_dict=shards['state_dict'], message_hub=extra['message_hub'])
        if 'param_schedulers' in extra:
            merged['param_schedulers'] = extra['param_schedulers']
        if with_optimizer and 'optimizer' in shards:
            merged['optimizer'] = shards['optimizer']
        merged['meta'] = dict(merged['meta'], sharded=False, merged_from=osp.abspath(path))
        torch.save(merged, tmp)
        os.replace(tmp, out_file)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return merged


def describe(path: str) -> List[str]:
    """Lines describing a sharded checkpoint (for the merge tool): epoch, iteration, processes, tensors."""
    import torch.distributed.checkpoint as dcp
    meta = _read_runner_state(path)['meta']
    keys = dcp.FileSystemReader(path).read_metadata().state_dict_metadata
    n_model = sum(1 for k in keys if k.startswith('state_dict.'))
    n_optim = sum(1 for k in keys if k.startswith('optimizer.'))
    return [f'{path}: epoch {meta.get("epoch")}, iter {meta.get("iter")}, saved by {meta.get("world_size")} '
            f'processes; {n_model} model tensors, {n_optim} optimiser entries']

