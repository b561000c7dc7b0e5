"""Process launch: one process per visible GPU (spawned), torchrun, or CPU processes with gloo."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from data.asvspoof_sets import RunTrials, run_trials
from data.balanced_loader import per_process_rows
from models.registry import build_detector_for_checkpoint, detector_keys, get_backbone
from trainer.checkpoint import RESUME_KEYS, load_checkpoint, load_model_state, resolve_resume
from trainer.trainer import Trainer
from utils.config import ConfigError
from utils.run_folder import holds_a_run, training_run_dir
from utils.run_lock import RunLock


def free_port() -> int:
    """A TCP port that was free a moment ago on this machine (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _device(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device('cuda', local_rank)
    return torch.device('cpu')


def run_worker(rank: int, world_size: int, args: dict, port: int, trials: RunTrials) -> None:
    """Entry point of one spawned process (or of the only process)."""
    if world_size > 1:
        os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'] = '127.0.0.1', str(port)
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo', rank=rank, world_size=world_size)
        if not torch.cuda.is_available():
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    try:
        Trainer(args, rank, world_size, _device(rank), trials).run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _run_torchrun(args: dict, trials: RunTrials) -> None:
    rank, world_size = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    try:
        Trainer(args, rank, world_size, _device(local_rank), trials).run()
    finally:
        dist.destroy_process_group()


def planned_world_size(args: dict) -> int:
    """How many processes `launch` will start: torchrun's WORLD_SIZE, the GPUs of
    `usable_gpu` or visible, else `world_size` CPU processes."""
    if 'RANK' in os.environ and 'WORLD_SIZE' in os.environ:
        return int(os.environ['WORLD_SIZE'])
    if args['usable_gpu']:
        return len([gpu for gpu in str(args['usable_gpu']).split(',') if gpu.strip()])
    return torch.cuda.device_count() or args['world_size']


def check_batch_split(args: dict, world_size: int) -> None:
    """The global batch's bona fide and spoof rows must divide evenly over the processes
    (ConfigError naming the numbers), and with loss_scope='process' each process needs two
    bona fide rows for the pair loss to pair different utterances."""
    bona, _ = per_process_rows(args['batch_size'], args['ratio_bona'], args['ratio_spoof'], world_size)
    if args['loss_scope'] == 'process' and args['use_bpl'] and bona < 2 and world_size > 1:
        raise ConfigError(f"batch_size={args['batch_size']} gives each of {world_size} processes {bona} bona fide "
                          f"row: the pair loss of one process (loss_scope='process') needs 2; use fewer processes, "
                          f"a larger batch_size or loss_scope=global")


def preflight(args: dict) -> RunTrials:
    """The checks that must pass before any process starts: for training a global batch
    that the processes share evenly; the backbone's own (its weights' shapes), datasets on
    disk (layouts, protocols, every audio header), for TEST a checkpoint that fits the
    model, for training a run folder no other live process holds, that holds no earlier
    run unless resuming (resume=auto or a path) and, when resuming, a complete checkpoint
    that fits. Raises ConfigError /
    DatasetError / CheckpointError / RunFolderInUse naming the path; returns the trials
    read, for the trainer."""
    if not args['TEST']:
        check_batch_split(args, planned_world_size(args))
    get_backbone(args['backbone']).preflight(args)
    trials = run_trials(args)
    if args['TEST']:
        checkpoint, required = args['checkpoint'], ('model',)
    else:
        folder = training_run_dir(args)
        RunLock(folder).check()
        if args['resume'] is None and holds_a_run(folder):
            raise ConfigError(f"{folder} already holds a run (its checkpoint or metric lines): resume=auto "
                              f"continues it, name=... starts another beside it; two runs never share a folder")
        checkpoint = resolve_resume(args['resume'], os.path.join(folder, 'models', 'last.pt'))
        required = RESUME_KEYS
    if checkpoint:
        load_model_state(build_detector_for_checkpoint(args), load_checkpoint(checkpoint, required), args,
                         checkpoint, detector_keys(args))
    return trials


def launch(args: dict, trials: RunTrials) -> None:
    """torchrun when its environment is set; else one process per visible GPU; else
    `world_size` CPU processes (gloo)."""
    if 'RANK' in os.environ and 'WORLD_SIZE' in os.environ:
        _run_torchrun(args, trials)
        return
    if args['usable_gpu']:
        os.environ['CUDA_VISIBLE_DEVICES'] = str(args['usable_gpu'])
    world_size = torch.cuda.device_count() or args['world_size']
    if world_size == 1:
        run_worker(0, 1, args, 0, trials)
    else:
        mp.spawn(run_worker, args=(world_size, args, free_port(), trials), nprocs=world_size, join=True)
