"""Every part of a run, built from the configuration in one place. Constructors name
their arguments after the configuration keys, so each part takes its keys by name; the
detector comes from the backbone registry (models/registry.py)."""
import inspect
import warnings
from dataclasses import dataclass
from typing import Iterable, List, Optional

import torch
from torch import nn

from arguments import EXPERIMENT, initialising_keys, keys_read_by_name
from augment.batch_augment import BatchAugment
from augment.codec import RandomCodec
from augment.colored_noise import AddColoredNoise
from augment.rawboost import RandomRawBoost
from augment.rawboost_batched import BatchRawBoost
from data.balanced_loader import BalancedLoader
from data.datasets import TwoViewDataset, UnreadableFiles
from data.protocol import Trial
from data.views import crop_samples
from losses import EBMObjective, EOCSoftmax, class_weights_from_ratios
from models.ebm_detector import EBMDetector
from models.registry import BACKBONES, build_detector, detector_keys, get_backbone  # noqa: F401 (built here too)
from trainer.checkpoint import load_model_state
from trainer.distributed import wrap_detector
from trainer.ebm_step import TwoStepUpdate
from utils.config import ConfigError, keyword_args

# The parts below that take their configuration keys by keyword.
KEYWORD_PARTS = (RandomCodec, RandomRawBoost, TwoViewDataset, BalancedLoader, EOCSoftmax, EBMObjective,
                 AddColoredNoise, BatchAugment, TwoStepUpdate)


def unread_keys(keys: Iterable[str]) -> List[str]:
    """Those of `keys` that no part reads: no constructor or backbone factory names them and
    their declaration names no reader (`read_by`). A renamed constructor parameter leaves its
    key here."""
    read = set(keys_read_by_name()) | {name for part in KEYWORD_PARTS for name in inspect.signature(part).parameters}
    read |= {key for backbone in BACKBONES.values() for key in backbone.keys()}
    return sorted(set(keys) - read)


def _check_every_key_is_read() -> None:
    unread = unread_keys(EXPERIMENT)
    if unread:
        raise ConfigError(f"experiment keys that no part reads: {', '.join(unread)} (a constructor parameter was "
                          f"renamed, or the key is no longer used: name it in arguments.RETIRED; or declare its "
                          f"reader, read_by=...)")


def build_objective(args: dict) -> EBMObjective:
    weights = class_weights_from_ratios(args['ratio_bona'], args['ratio_spoof']) if args['use_class_weight'] else None
    eoc_softmax = EOCSoftmax(**keyword_args(args, EOCSoftmax, class_weight=weights))
    return EBMObjective(eoc_softmax, **keyword_args(args, EBMObjective))


def build_detector_for_checkpoint(args: dict) -> EBMDetector:
    """The detector a checkpoint's model state is loaded into: without the weight files that
    only initialise what that state replaces (keys declared `initialises`; they need not exist
    where the checkpoint is scored)."""
    return get_backbone(args['backbone']).build_detector({**args, **{key: None for key in initialising_keys()}})


def check_model_fits(args: dict, state: dict, path: str) -> None:
    """CheckpointError naming the keys when state['model'] would not load into this configuration's
    detector. The detector is built on the meta device: shapes only, no memory, no initialisation
    (an XLS-R front end costs nothing to check)."""
    with torch.device('meta'):
        detector = build_detector_for_checkpoint(args)
    # Copying into meta tensors checks every shape and copies nothing (PyTorch warns that it is a
    # no-op). Not assign=True: the throwaway model's parameters would alias the checkpoint's
    # tensors, which the run then resumes from, and the resumed run departed from an
    # uninterrupted one (tests/test_torchrun.py caught it).
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*copying from a non-meta parameter', category=UserWarning)
        load_model_state(detector, state, args, path, detector_keys(args))


def build_batch_augment(args: dict) -> BatchAugment:
    on_device = args['rawboost'] and args['rawboost_device'] == 'cuda'
    rawboost = BatchRawBoost(args['sample_rate']) if on_device else None
    return BatchAugment(AddColoredNoise(**keyword_args(args, AddColoredNoise)),
                        **keyword_args(args, BatchAugment, device_rawboost=rawboost))


def build_training_loader(args: dict, trials: List[Trial], rank: int = 0, world_size: int = 1) -> BalancedLoader:
    """Two-view datasets of the bona fide and the spoof rows, in one balanced loader."""
    codec = RandomCodec(**keyword_args(args, RandomCodec)) if args['codec_p'] else None
    per_item = args['rawboost'] and args['rawboost_device'] == 'cpu'
    rawboost = RandomRawBoost(**keyword_args(args, RandomRawBoost)) if per_item else None

    unreadable = UnreadableFiles([trial.path for trial in trials])   # counted over both classes

    def dataset(rows: List[Trial]) -> TwoViewDataset:
        return TwoViewDataset(rows, **keyword_args(
            args, TwoViewDataset, crop_long=crop_samples(args['num_train_frames'], args['hop']),
            crop_short=crop_samples(args['num_train_frames_short'], args['hop']), codec=codec, rawboost=rawboost,
            unreadable=unreadable))

    return BalancedLoader(dataset([t for t in trials if t.label == 1]), dataset([t for t in trials if t.label == 0]),
                          **keyword_args(args, BalancedLoader, world_size=world_size, rank=rank))


def build_optimizer(args: dict, detector: nn.Module):
    """Adam over every parameter (it skips those without a gradient) and the cosine
    schedule with warm restarts, stepped once per epoch."""
    optimizer = torch.optim.Adam(detector.parameters(), lr=args['lr'], weight_decay=args['weight_decay'])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=args['T_0'], T_mult=args['T_mult'], eta_min=args['lr_min'])
    return optimizer, scheduler


def compile_detector(detector: EBMDetector, backend: str) -> None:
    """torch.compile the detector's forward in place (compile=True): its parameters, buffers
    and state_dict keys stay those of the plain module, so checkpoints load either way."""
    backends = torch.compiler.list_backends(exclude_tags=())
    if backend not in backends:
        raise ConfigError(f"compile_backend={backend!r} is not a torch.compile backend here; one of "
                          f"{', '.join(sorted(backends))}")
    detector.compile(backend=backend)


def build_step(args: dict, model: nn.Module, optimizer: torch.optim.Optimizer, objective: EBMObjective,
               batch_augment: BatchAugment) -> TwoStepUpdate:
    """The two-step update of these parts with the configuration's centroid_update, amp and loss_scope."""
    return TwoStepUpdate(model, optimizer, objective, batch_augment, **keyword_args(args, TwoStepUpdate))


@dataclass
class TrainingParts:
    detector: EBMDetector               # the bare model: checkpoints, centroids, scoring
    model: nn.Module                    # the detector, in DDP when a process group is up
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    objective: EBMObjective
    batch_augment: BatchAugment
    step: TwoStepUpdate                 # the two-step EBM update of one batch, bound to the parts above
    loader: Optional[BalancedLoader]    # None when only evaluating


def build_training_parts(args: dict, train_trials: Optional[List[Trial]], rank: int = 0, world_size: int = 1,
                         device: torch.device = torch.device('cpu')) -> TrainingParts:
    """Everything the trainer's loop needs, on `device`; no loader without training trials."""
    _check_every_key_is_read()
    detector = build_detector(args).to(device)
    if args['init_train'] != 'all':
        detector.train_only(args['init_train'])
    if args['compile']:
        compile_detector(detector, args['compile_backend'])
    if world_size > 1 and device.type == 'cuda':
        detector = torch.nn.SyncBatchNorm.convert_sync_batchnorm(detector)
    model = wrap_detector(detector, [device.index] if device.type == 'cuda' else None)
    optimizer, scheduler = build_optimizer(args, detector)
    loader = build_training_loader(args, train_trials, rank, world_size) if train_trials is not None else None
    objective, batch_augment = build_objective(args).to(device), build_batch_augment(args).to(device)
    return TrainingParts(detector, model, optimizer, scheduler, objective, batch_augment,
                         build_step(args, model, optimizer, objective, batch_augment), loader)
