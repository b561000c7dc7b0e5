"""Small DistributedDataParallel helpers shared by the launcher, the training step and the trainer."""
import os
from datetime import timedelta
from typing import Iterable, List, Optional

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as distributed_autograd
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def start_process_group(timeout_s: float, rank: Optional[int] = None, world_size: Optional[int] = None) -> None:
    """NCCL on GPUs, else gloo; every collective operation gives up after `timeout_s`
    (collective_timeout) instead of torch's 30 minutes. rank and world_size None: from
    torchrun's environment."""
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    timeout = timedelta(seconds=timeout_s)
    if rank is not None:
        dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout)
        return
    # torchrun's agent keeps one store for all its restarts, and torch 2.9 does not separate
    # them: a restarted gloo group would read the killed worker's address and fail to connect.
    # Each restart gets its own key prefix.
    store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), is_master=False,
                          timeout=timeout)
    restart = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
    dist.init_process_group(backend, store=dist.PrefixStore(f"ebm_restart_{restart}", store),
                            rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']), timeout=timeout)


# what gloo, NCCL and the store say when a peer is gone or a collective timed out
_COLLECTIVE_FAILURES = ('gloo', 'nccl', 'timed out', 'connection closed by peer', 'connection reset by peer',
                        'broken pipe')


def is_collective_failure(error: BaseException) -> bool:
    """Whether `error` is a failed or timed-out collective operation (a peer hangs or is gone)."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(marker in text for marker in _COLLECTIVE_FAILURES)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def wrap_detector(detector: nn.Module, device_ids: Optional[List[int]] = None) -> nn.Module:
    """Wrap in DDP when a process group is up.

    The centroids are left out of DDP's gradient reduction (they are frozen in step 1
    and updated alone in step 2, which would otherwise look like unused parameters)
    and averaged by `average_gradients`. Buffers are not re-broadcast on every forward:
    EBM forwards two views before one backward, and a broadcast between them would
    overwrite BatchNorm statistics that the first graph still holds. SyncBatchNorm keeps
    them equal on GPUs; `broadcast_buffers` aligns them before evaluation and saving.
    """
    if not is_distributed():
        return detector
    # No public API tells DDP to leave parameters alone (pytorch/pytorch#43690, open); this private
    # one is the documented workaround. tests/test_ebm_step.py pins that the centroids stay out.
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(detector, detector.centroid_names())
    return DistributedDataParallel(detector, device_ids=device_ids, broadcast_buffers=False)


def broadcast_buffers(model: nn.Module, source: int = 0) -> None:
    """Copy every buffer (BatchNorm statistics) from rank `source` to all ranks."""
    if not is_distributed():
        return
    for buffer in unwrap(model).buffers():
        dist.broadcast(buffer, source)


def average_gradients(parameters: Iterable[torch.Tensor]) -> None:
    """All-reduce (mean) the gradients of parameters that DDP does not reduce."""
    if not is_distributed():
        return
    world = dist.get_world_size()
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad.div_(world)


def broadcast_state(model: nn.Module, source: int = 0) -> None:
    """Copy every parameter and buffer from rank `source` to all ranks (a model loaded
    on one rank only, such as an averaged one)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in list(unwrap(model).parameters()) + list(unwrap(model).buffers()):
            dist.broadcast(tensor.data, source)



def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """(b, ...) on each of N processes -> (N * b, ...), the processes' rows in rank order, on
    every process. Differentiable: the backward sums each process's gradient of its rows over
    all processes, which DDP's mean then turns into the gradient of the global loss."""
    if not is_distributed():
        return tensor
    if not tensor.requires_grad:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)
    return torch.cat(distributed_autograd.all_gather(tensor))
