"""amp=bf16: the forwards in bfloat16 autocast, losses and optimiser in float32; off by
default. On CPU: the losses of a few steps follow float32's, and a run trains, saves and
resumes."""
import os

import pytest
import torch

from tests.helpers import ebm_step_setup as _setup, feature_batch as _batch, tiny_args
from trainer.ebm_step import ebm_step
from trainer.trainer import Trainer
from utils.checkpoint_file import load_checkpoint


def _losses(amp, steps=4):
    args, detector, optimizer, objective = _setup()
    losses = []
    for step in range(steps):
        long_features, short_features, labels = _batch(step)
        result = ebm_step(detector, optimizer, objective, long_features, short_features, labels, amp=amp)
        assert all(e.dtype == torch.float32 for e in result.bona_embeddings)
        losses.append((result.loss_1, result.loss_2))
    return losses, detector


def test_bf16_losses_follow_float32_within_two_percent():
    full, _ = _losses('fp32')
    half, half_detector = _losses('bf16')
    assert full != half                                     # bf16 really ran
    for (a1, a2), (b1, b2) in zip(full, half):
        assert b1 == pytest.approx(a1, rel=0.02) and b2 == pytest.approx(a2, rel=0.02)
    assert all(p.dtype == torch.float32 for p in half_detector.parameters())   # weights stay float32


@pytest.mark.slow
def test_a_bf16_run_trains_saves_and_resumes(demo_corpus, tmp_path):
    small = ('name=bf16', 'amp=bf16', 'path_21LA=None', 'path_21DF=None')
    Trainer(tiny_args(demo_corpus, tmp_path, *small, 'epoch=1')).run()
    resumed = Trainer(tiny_args(demo_corpus, tmp_path, *small, 'epoch=2', 'resume=auto'))
    resumed.run()
    state = load_checkpoint(os.path.join(resumed.run_dir, 'models', 'last.pt'))
    assert state['epoch'] == 2 and state['args']['amp'] == 'bf16'
    losses = open(os.path.join(resumed.run_dir, 'metrics', 'train_loss_1.txt')).read().splitlines()
    assert len(losses) == 2 * 20 and all(float(line.split(': ')[1]) > 0 for line in losses)
