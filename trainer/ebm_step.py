"""One EBM optimisation step (docs/method.md section 10): the 'Adam-based centroid update'.

`TwoStepUpdate` is the whole step from a batch of waveforms (batch augmentation, the
detector's own features, then `ebm_step`), bound once to a run's parts and settings; the
trainer and the benchmarks call it.
"""
from contextlib import nullcontext
from typing import Callable, List, NamedTuple, Optional

import torch
from torch import nn

from losses import EBMObjective
from trainer.distributed import average_gradients, gather_rows, unwrap


def _set_trainable(detector: nn.Module, centroids: bool, others: bool) -> None:
    """The detector's frozen parameters (a frozen SSL front end) stay untrainable."""
    centroid_ids = {id(c) for c in detector.centroids}
    frozen_ids = {id(p) for p in detector.frozen_parameters()}
    for parameter in detector.parameters():
        if id(parameter) not in frozen_ids:
            parameter.requires_grad_(centroids if id(parameter) in centroid_ids else others)


class StepResult(NamedTuple):
    """What one step reports: its two losses (loss_2 None in 'joint' mode) and, per head,
    the detached (n_bona, D) embeddings of the bona fide rows from the last forward."""
    loss_1: float
    loss_2: Optional[float]
    bona_embeddings: List[torch.Tensor]


def autocast(device: torch.device, amp: str):
    """bfloat16 autocast of the model's forward for amp='bf16' (off by default: 'fp32')."""
    if amp == 'bf16':
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def _float(embeddings: List[torch.Tensor]) -> List[torch.Tensor]:
    """The losses' cosines and margins in float32 whatever the forward's precision."""
    return [embedding.float() for embedding in embeddings]


def _global_batch(embeddings: Optional[List[torch.Tensor]]) -> Optional[List[torch.Tensor]]:
    return None if embeddings is None else [gather_rows(embedding) for embedding in embeddings]


def ebm_step(model: nn.Module, optimizer: torch.optim.Optimizer, objective: EBMObjective,
             long_features: torch.Tensor, short_features: torch.Tensor, labels: torch.Tensor,
             centroid_update: str = 'adam_step', amp: str = 'fp32', loss_scope: str = 'process') -> StepResult:
    """Update `model` (a Detector, optionally in DDP) on one batch.

    long_features (B, T, F), short_features (B, T', F), labels (B,) with 1 = bona fide.
    'adam_step' (EBM):
      1. centroids frozen; loss_1 = EOC-S on the long view of all rows + BPL on the bona
         fide rows of both views; backward; optimiser step (moves everything else).
      2. forward the whole long batch again (train mode, updated weights) and take
         loss_2 = EOC-S on its bona fide rows; backward reaches only the centroids;
         optimiser step (Adam skips parameters without a gradient).
    'joint' (plain OC-Softmax): step 1 with the centroids trainable; no step 2 (loss_2 None).
    amp='bf16' runs the forwards in bfloat16 autocast; embeddings, losses and the
    optimiser stay in float32.
    loss_scope='process' (the authors' DDP): under DDP each process's losses see its own rows
    (BPL pairs only bona fide rows of one process; the class-weight rule counts one process's
    rows). 'global' (DEVIATION:global-batch-loss): the embeddings and labels of all processes
    are gathered first, so that both losses see the global batch as one process would.
    """
    detector = unwrap(model)
    joint = centroid_update == 'joint'
    _set_trainable(detector, centroids=joint, others=True)
    with autocast(long_features.device, amp):
        long_embeddings = _float(model(long_features))
    with autocast(long_features.device, amp):
        short_embeddings = _float(model(short_features)) if objective.use_bpl else None
    if loss_scope == 'global':
        long_embeddings, short_embeddings = _global_batch(long_embeddings), _global_batch(short_embeddings)
        labels = gather_rows(labels)
    loss_1 = objective.main_loss(long_embeddings, short_embeddings, list(detector.centroids), labels)
    optimizer.zero_grad(set_to_none=True)
    loss_1.backward()
    if joint:
        average_gradients(detector.centroids)
    optimizer.step()
    if joint:
        return StepResult(loss_1.item(), None, [e.detach()[labels == 1] for e in long_embeddings])

    _set_trainable(detector, centroids=True, others=False)
    # DEVIATION:step2-whole-batch. The authors forward the bona fide rows alone here; their classifier (XLS-R + bridge)
    # normalises with LayerNorm, row by row, so that equals the bona fide rows of a
    # whole-batch forward. The HM-Conformer heads end in BatchNorm, which would standardise
    # every dimension over the few bona fide rows alone (their mean becomes the BN bias,
    # the centroid gradient loses its direction, the running statistics are biased), so
    # the whole batch is forwarded and its bona fide rows are taken.
    with torch.no_grad(), autocast(long_features.device, amp):
        embeddings = _float(detector(long_features))
    if loss_scope == 'global':
        embeddings = _global_batch(embeddings)
    bona_embeddings = [embedding[labels == 1] for embedding in embeddings]
    loss_2 = objective.centroid_loss(bona_embeddings, list(detector.centroids))
    optimizer.zero_grad(set_to_none=True)
    loss_2.backward()
    average_gradients(detector.centroids)
    optimizer.step()
    _set_trainable(detector, centroids=False, others=True)
    return StepResult(loss_1.item(), loss_2.item(), bona_embeddings)


class TwoStepUpdate:
    """The whole step from a batch of waveforms, bound once per run to what it updates (model,
    optimiser, objective, batch augmentation) and how (centroid_update, amp, loss_scope:
    constructor arguments named after their configuration keys). The trainer and the benchmarks
    call it with a batch."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, objective: EBMObjective,
                 batch_augment: Callable[[torch.Tensor], torch.Tensor], centroid_update: str = 'adam_step',
                 amp: str = 'fp32', loss_scope: str = 'process'):
        self.model, self.optimizer, self.objective, self.batch_augment = model, optimizer, objective, batch_augment
        self.centroid_update, self.amp, self.loss_scope = centroid_update, amp, loss_scope

    def __call__(self, long_wave: torch.Tensor, short_wave: torch.Tensor, labels: torch.Tensor) -> StepResult:
        """long_wave (B, N), short_wave (B, N'), labels (B,), all on the model's device: batch
        augmentation (noise, speed) of each view, the detector's features of each (which the model
        in training mode masks), then `ebm_step`. The short view is skipped when the objective has
        no pair loss."""
        detector = unwrap(self.model)
        long_features = detector.features(self.batch_augment(long_wave))
        short_features = detector.features(self.batch_augment(short_wave)) if self.objective.use_bpl else None
        return ebm_step(self.model, self.optimizer, self.objective, long_features, short_features, labels,
                        self.centroid_update, self.amp, self.loss_scope)
