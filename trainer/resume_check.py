"""What a resume may change. A checkpoint carries its run's configuration and a fingerprint
of its training rows; resuming with a key changed that alters the trajectory (the batch,
the learning rate, the model, the augmentation) or with other training rows is refused
before training unless `resume_override` names it. The optimiser's and the schedule's keys
named there are applied to the restored optimiser and schedule, so that the run follows
what parameters.txt says."""
from typing import Dict, List, Sequence

import torch

from arguments import resumable_keys
from data.protocol import Trial, rows_sha256
from utils.config import ConfigError

# A key declared `resumable` in arguments.py says where a run writes, what it evaluates or how
# fast it runs, never its training trajectory; with 'train_protocol' (the training rows'
# fingerprint) every other difference is refused unless named in resume_override.
TRAIN_PROTOCOL = 'train_protocol'
OPTIMISER_KEYS = ('lr', 'lr_min', 'weight_decay', 'T_0', 'T_mult')


def train_fingerprint(trials: Sequence[Trial]) -> str:
    """The training rows' fingerprint (data.protocol.rows_sha256)."""
    return rows_sha256(list(trials))


def changed_keys(saved_args: Dict, args: Dict) -> List[str]:
    """The keys that alter the trajectory and differ from the checkpoint's configuration
    (keys the checkpoint does not know are left out)."""
    resumable = resumable_keys()
    return [key for key in args if key not in resumable and key in saved_args and saved_args[key] != args[key]]


def check_resume(state: Dict, args: Dict, path: str, trials: Sequence[Trial]) -> None:
    """ConfigError naming every unexplained change between the checkpoint at `path` and this
    run (keys, or the training rows), with both values and the override that allows it."""
    allowed = set(args['resume_override'])   # each a key or TRAIN_PROTOCOL (arguments.py checks it)
    saved = state.get('args') or {}
    changes = [f"{key}={saved[key]!r} -> {args[key]!r}" for key in changed_keys(saved, args) if key not in allowed]
    saved_rows = state.get('train_fingerprint')
    if saved_rows is not None and saved_rows != train_fingerprint(trials) and TRAIN_PROTOCOL not in allowed:
        changes.append(f"{TRAIN_PROTOCOL}: the training rows differ from the {state.get('train_rows', '?')} the "
                       f"checkpoint was trained on (now {len(trials)})")
    if changes:
        names = [change.split('=')[0].split(':')[0] for change in changes]
        raise ConfigError(f"resume from {path} changes what the run was trained with: {'; '.join(changes)}. "
                          f"Set the values back, or continue with the new ones: resume_override="
                          f"{','.join(names)}")


def apply_optimiser_overrides(optimizer: torch.optim.Optimizer, scheduler, saved_args: Dict, args: Dict) -> List[str]:
    """Put the overridden optimiser and schedule keys into the restored optimiser and
    CosineAnnealingWarmRestarts (its learning rate recomputed at its current epoch);
    returns the keys applied."""
    applied = [key for key in OPTIMISER_KEYS if key in args['resume_override'] and key in saved_args
               and saved_args[key] != args[key]]
    if not applied:
        return []
    for group in optimizer.param_groups:
        group['initial_lr'], group['weight_decay'] = args['lr'], args['weight_decay']
    scheduler.base_lrs = [args['lr']] * len(optimizer.param_groups)
    scheduler.eta_min, scheduler.T_0, scheduler.T_mult = args['lr_min'], args['T_0'], args['T_mult']
    scheduler.step(scheduler.last_epoch)   # T_i, T_cur and the learning rate at the current epoch
    return applied
