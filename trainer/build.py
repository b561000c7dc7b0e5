"""Every part of a run, built from the configuration in one place. Constructors name
their arguments after the configuration keys, so each part takes its keys by name."""
from dataclasses import dataclass
from typing import List, Optional, Union

import torch
from torch import nn

from augment.batch_augment import BatchAugment
from augment.codec import RandomCodec
from augment.colored_noise import AddColoredNoise
from augment.rawboost import RandomRawBoost
from data.balanced_loader import BalancedLoader
from data.datasets import TwoViewDataset
from data.protocol import Trial
from data.views import crop_samples
from losses import EBMObjective, EOCSoftmax, class_weights_from_ratios
from models.bridge import BridgeDetector, build_bridge_detector
from models.detector import Detector
from models.feature_masking import FeatureMasking
from models.hm_conformer import HMConformer
from models.lfcc import LFCC
from models.ssl_frontend import load_ssl_frontend
from trainer.distributed import wrap_detector
from utils.config import keyword_args


SSL_BRIDGE_KEYS = ('ssl_num_hidden_states', 'ssl_hidden_size', 'agg_size', 'bridge_embedding_size')


def build_detector(args: dict) -> Union[Detector, BridgeDetector]:
    """The detector of `backbone`: LFCC + HM-Conformer, or wav2vec 2.0 + bridge."""
    if args['backbone'] == 'ssl_bridge':
        return build_bridge_detector(args['ssl_num_hidden_states'], args['ssl_hidden_size'], args['agg_size'],
                                     args['bridge_embedding_size'], load_ssl_frontend(args['ssl_checkpoint']),
                                     args['ssl_freeze_until_epoch'], args['ssl_bf16'])
    return Detector(LFCC(**keyword_args(args, LFCC)), FeatureMasking(**keyword_args(args, FeatureMasking)),
                    HMConformer(**keyword_args(args, HMConformer)), **keyword_args(args, Detector))


def detector_keys(args: dict) -> List[str]:
    """The configuration keys the detector's shapes are built from."""
    if args['backbone'] == 'ssl_bridge':
        return ['backbone', *SSL_BRIDGE_KEYS]
    parts = (LFCC, FeatureMasking, HMConformer, Detector)
    return sorted({'backbone'} | {key for part in parts for key in keyword_args(args, part)})


def build_objective(args: dict) -> EBMObjective:
    weights = class_weights_from_ratios(args['ratio_bona'], args['ratio_spoof']) if args['use_class_weight'] else None
    eoc_softmax = EOCSoftmax(**keyword_args(args, EOCSoftmax, class_weight=weights))
    return EBMObjective(eoc_softmax, **keyword_args(args, EBMObjective))


def build_batch_augment(args: dict) -> BatchAugment:
    return BatchAugment(AddColoredNoise(**keyword_args(args, AddColoredNoise)), **keyword_args(args, BatchAugment))


def build_training_loader(args: dict, trials: List[Trial], rank: int = 0, world_size: int = 1) -> BalancedLoader:
    """Two-view datasets of the bona fide and the spoof rows, in one balanced loader."""
    codec = RandomCodec(**keyword_args(args, RandomCodec)) if args['codec_p'] else None
    rawboost = RandomRawBoost(**keyword_args(args, RandomRawBoost)) if args['rawboost'] else None

    def dataset(rows: List[Trial]) -> TwoViewDataset:
        return TwoViewDataset(rows, **keyword_args(
            args, TwoViewDataset, crop_long=crop_samples(args['num_train_frames'], args['hop']),
            crop_short=crop_samples(args['num_train_frames_short'], args['hop']), codec=codec, rawboost=rawboost,
            rank=rank))

    return BalancedLoader(dataset([t for t in trials if t.label == 1]), dataset([t for t in trials if t.label == 0]),
                          **keyword_args(args, BalancedLoader, world_size=world_size, rank=rank))


def build_optimizer(args: dict, detector: nn.Module):
    """Adam over every parameter (it skips those without a gradient) and the cosine
    schedule with warm restarts, stepped once per epoch."""
    optimizer = torch.optim.Adam(detector.parameters(), lr=args['lr'], weight_decay=args['weight_decay'])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=args['T_0'], T_mult=args['T_mult'], eta_min=args['lr_min'])
    return optimizer, scheduler


@dataclass
class TrainingParts:
    detector: Union[Detector, BridgeDetector]  # the bare model: checkpoints, centroids, scoring
    model: nn.Module                    # the detector, in DDP when a process group is up
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    objective: EBMObjective
    batch_augment: BatchAugment
    loader: Optional[BalancedLoader]    # None when only evaluating


def build_training_parts(args: dict, train_trials: Optional[List[Trial]], rank: int = 0, world_size: int = 1,
                         device: torch.device = torch.device('cpu')) -> TrainingParts:
    """Everything the trainer's loop needs, on `device`; no loader without training trials."""
    detector = build_detector(args).to(device)
    if world_size > 1 and device.type == 'cuda':
        detector = torch.nn.SyncBatchNorm.convert_sync_batchnorm(detector)
    model = wrap_detector(detector, [device.index] if device.type == 'cuda' else None)
    optimizer, scheduler = build_optimizer(args, detector)
    loader = build_training_loader(args, train_trials, rank, world_size) if train_trials is not None else None
    return TrainingParts(detector, model, optimizer, scheduler, build_objective(args).to(device),
                         build_batch_augment(args).to(device), loader)
