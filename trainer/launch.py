"""Process launch: one process per visible GPU (spawned), torchrun, or CPU processes with gloo."""
import os
import socket
import sys
from dataclasses import dataclass
from typing import Callable, NoReturn, Optional

import torch
import torch.multiprocessing as mp

from data.audio_band import measure_band, measured_keys
from data.balanced_loader import per_process_rows
from data.sets import RunTrials, run_trials
from models.registry import get_backbone, shortest_input
from trainer.build import check_model_fits
from trainer.checkpoint import RESUME_KEYS, resolve_resume
from trainer.distributed import is_collective_failure, start_process_group
from trainer.process_board import ProcessBoard
from trainer.resume_check import check_resume
from trainer.trainer import Trainer
from utils.checkpoint_file import load_checkpoint
from utils.config import ConfigError
from utils.errors import RunFailed
from utils.output_paths import unwritable_reason
from utils.run_folder import check_writable, holds_a_run, run_dir, training_run_dir
from utils.run_lock import RunLock


STOP_GRACE_SECONDS = 10


class ProcessFailed(RunFailed, RuntimeError):
    """A spawned training process exited with an error, was killed or raised."""


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


def run_worker(rank: int, world_size: int, args: dict, port: int, trials: RunTrials,
               state: Optional[dict] = None) -> None:
    """Entry point of one spawned process (or of the only process)."""
    if world_size > 1:
        os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'] = '127.0.0.1', str(port)
        start_process_group(args['collective_timeout'], rank, world_size)
        if not torch.cuda.is_available():
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    _train_in_group(args, rank, world_size, _device(rank), trials, state)


def _run_torchrun(args: dict, trials: RunTrials, state: Optional[dict]) -> None:
    rank, world_size = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    start_process_group(args['collective_timeout'])
    _train_in_group(args, rank, world_size, _device(int(os.environ.get('LOCAL_RANK', 0))), trials, state)


def _train_in_group(args: dict, rank: int, world_size: int, device: torch.device, trials: RunTrials,
                    state: Optional[dict] = None) -> None:
    """Run the trainer; when a collective operation of the group fails or times out (a process
    hangs, was killed or raised), name the process at fault once and exit with status 1, the
    last checkpoint as it was."""
    board = ProcessBoard(rank, world_size) if world_size > 1 else None
    trainer, status = None, 0
    try:
        trainer = Trainer(args, rank, world_size, device, trials, state)
        trainer.run()
    except Exception as error:
        if board is None or not is_collective_failure(error):
            raise
        _report_group_failure(args, rank, board, trainer, error)
        status = 1
    finally:
        if board is not None:
            board.close()
    if board is not None:
        _leave_group(status)


def _leave_group(status: int) -> NoReturn:
    """End a process of a group without freeing its process group. Freeing it (DDP's reducer,
    then the gloo group) can deadlock under torch 2.9: the group's worker thread, dropping the
    tensors of a finished operation, waits for the GIL that the freeing thread holds while it
    joins that worker. One process hung so would keep torchrun waiting for ever, its peers having
    exited. Every file of the run is closed by now; only the streams need flushing."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _report_group_failure(args: dict, rank: int, board: ProcessBoard, trainer: Optional[Trainer],
                          error: BaseException) -> None:
    at_fault = board.describe_failure()
    if at_fault == []:
        return   # a lower-ranked process that saw the failure reports it
    where = (f" in step {trainer.global_step + 1} (epoch {trainer.epoch + 1})" if trainer is not None else
             " before training")
    last = os.path.join(training_run_dir(args), 'models', 'last.pt')
    kept = (f"The last checkpoint {last} is as it was; resume=auto continues from it" if os.path.isfile(last)
            else "No checkpoint had been written yet")
    culprits = '; '.join(at_fault) if at_fault is not None else \
        "rank 0 stopped (its process held the group's store, which no longer answers)"
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    print(f"error: rank {rank}: a collective operation{where} failed or waited past collective_timeout="
          f"{args['collective_timeout']} s: {culprits}. {kept}. ({detail})", file=sys.stderr, flush=True)


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


def _torchrun_rank() -> Optional[int]:
    return int(os.environ['RANK']) if 'RANK' in os.environ and 'WORLD_SIZE' in os.environ else None


def check_cache_folder(folder: str) -> None:
    """ConfigError naming codec_cache when `folder` is a file or cannot be written (checked before
    training: the loader workers would otherwise fail at their first encode)."""
    reason = unwritable_reason(folder)
    if reason:
        raise ConfigError(f"codec_cache={folder!r}: the codec cache folder cannot be used: {reason}")


def _check_run_folder(args: dict, folder: str) -> None:
    RunLock(folder).check()
    if args['resume'] is None and holds_a_run(folder):
        raise ConfigError(f"{folder} already holds a run (its checkpoint or metric lines): resume=auto "
                          f"continues it, name=... starts another beside it; two runs never share a folder")


def resume_after_elastic_restart(args: dict) -> dict:
    """Under torchrun, a restarted group (TORCHELASTIC_RESTART_COUNT > 0, after a worker failed
    and --max-restarts allowed another try) continues from the run's last checkpoint:
    resume=auto unless a resume was given."""
    restarts = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') or 0)
    if restarts == 0 or args['resume'] is not None or args['TEST']:
        return args
    if _torchrun_rank() in (None, 0):
        print(f"torchrun restart {restarts}: resume=auto (continuing from the run's last checkpoint)", flush=True)
    return {**args, 'resume': 'auto'}


@dataclass
class Checked:
    """What the pre-flight check read and settled, for every process of the run: the
    configuration (with lfcc_band=auto, the band it measured; for TEST of such a checkpoint, the
    checkpoint's band), the trials, and the checkpoint it loaded to resume from, to evaluate or to
    start from (init_from); None when there is none. The processes do not read it again."""
    args: dict
    trials: RunTrials
    state: Optional[dict] = None


def preflight(args: dict) -> Checked:
    """The checks that must pass before any process starts: for training a global batch
    that the processes share evenly; the backbone's own (its weights' shapes), datasets on
    disk (layouts, protocols or manifests, every audio header), for TEST a checkpoint that fits
    the model, for fine-tuning (init_from) starting weights that fit it, for training a run
    folder no other live process holds, that holds no earlier run unless resuming (resume=auto or a path) and, when resuming, a complete checkpoint
    that fits, trained with this configuration and these training rows
    (trainer/resume_check.py), and a run folder this process can create and write. Raises
    ConfigError / DatasetError / CheckpointError / RunFolderInUse naming the path. Returns the
    run's configuration (with lfcc_band=auto, the band measured from the training audio; for
    TEST, the band the checkpoint was trained on), the trials and the checkpoint read."""
    args = resume_after_elastic_restart(args)
    if not args['TEST']:
        check_batch_split(args, planned_world_size(args))
    if _torchrun_rank() in (None, 0):       # rank 0 alone writes the run folder
        check_writable(run_dir(args), args['path_log'])
    get_backbone(args['backbone']).preflight(args)
    if args['codec_cache'] and not args['TEST']:
        check_cache_folder(args['codec_cache'])
    trials = run_trials(args, min_samples=shortest_input(args))
    if args['TEST']:
        checkpoint, required = args['checkpoint'], ('model',)
    else:
        args = _with_measured_band(args, trials)
        folder = training_run_dir(args)
        if _torchrun_rank() in (None, 0):   # under torchrun rank 0 checks the folder; the others find its lock
            _check_run_folder(args, folder)
        checkpoint = resolve_resume(args['resume'], os.path.join(folder, 'models', 'last.pt'))
        required = RESUME_KEYS
    starting = not args['TEST'] and not checkpoint and bool(args['init_from'])    # fine-tuning: weights only
    if starting:
        checkpoint, required = args['init_from'], ('model',)
    state = None
    if checkpoint:
        state = load_checkpoint(checkpoint, required, args['trust_checkpoint'])
        if args['TEST']:
            args = _with_the_checkpoints_band(args, state.get('args') or {})
        check_model_fits(args, state, checkpoint)
        if not args['TEST'] and not starting:
            check_resume(state, args, checkpoint, trials.train)
    return Checked(args, trials, state)


def _say(text: str) -> None:
    if _torchrun_rank() in (None, 0):
        print(text, flush=True)


def _with_measured_band(args: dict, trials: RunTrials) -> dict:
    """lfcc_band=auto: lfcc_f_min and lfcc_f_max set to the band the training audio occupies
    (data/audio_band.py), said on screen; the checkpoint stores them with the configuration."""
    if args['lfcc_band'] != 'auto':
        return args
    try:
        band = measure_band([trial.path for trial in trials.train], args['sample_rate'])
    except ValueError as error:
        raise ConfigError(f"lfcc_band=auto: the band of the training audio cannot be measured: {error}") from None
    _say(f"lfcc_band=auto: the training audio occupies {band.describe(args['sample_rate'])} (long-term spectrum of "
         f"{band.files} files): lfcc_f_min={band.f_min} lfcc_f_max={band.f_max}")
    return {**args, 'lfcc_f_min': band.f_min, 'lfcc_f_max': band.f_max}


def _with_the_checkpoints_band(args: dict, saved: dict) -> dict:
    """TEST of a checkpoint trained with lfcc_band=auto: the LFCC band it measured, not this
    configuration's (it changes no tensor's shape, so loading would not tell)."""
    adopted = {key: saved[key] for key in measured_keys(saved) if key in saved and saved[key] != args[key]}
    if not adopted:
        return args
    _say(f"TEST: the checkpoint was trained with lfcc_band=auto; its band is used: "
         f"{' '.join(f'{key}={value}' for key, value in adopted.items())}")
    return {**args, **adopted, 'lfcc_band': 'auto'}


def launch(checked: Checked) -> None:
    """torchrun when its environment is set; else one process per visible GPU; else
    `world_size` CPU processes (gloo)."""
    args, trials, state = checked.args, checked.trials, checked.state
    if 'RANK' in os.environ and 'WORLD_SIZE' in os.environ:
        _run_torchrun(args, trials, state)
        return
    if args['usable_gpu']:
        os.environ['CUDA_VISIBLE_DEVICES'] = str(args['usable_gpu'])
    world_size = torch.cuda.device_count() or args['world_size']
    if world_size == 1:
        run_worker(0, 1, args, 0, trials, state)
        return
    spawn(run_worker, world_size, (world_size, args, free_port(), trials, state))


def spawn(worker: Callable, world_size: int, worker_args: tuple) -> None:
    """Start `worker(rank, *worker_args)` in `world_size` processes and wait for all; raises
    ProcessFailed when one exits with an error, is killed or raises."""
    processes = mp.start_processes(worker, args=worker_args, nprocs=world_size, join=False, start_method='spawn')
    try:
        # after one process fails, the others get STOP_GRACE_SECONDS to exit, then SIGTERM, then SIGKILL
        while not processes.join(grace_period=STOP_GRACE_SECONDS):
            pass
    except mp.ProcessExitedException as error:
        raise ProcessFailed(f"{error} (its message is above); the other processes were stopped") from None
    except mp.ProcessRaisedException as error:
        raise ProcessFailed(f"process {error.error_index} raised:\n{error}the other processes were stopped") from None
