"""Several processes follow one (issue 26, item 1): a global batch split over N gloo processes
gives the parameters of one process with the whole batch, when the losses see the global
batch (loss_scope=global) and the model draws nothing per row.

What stays per process, and so differs from one process (docs/method.md section 4): the
model's own draws (dropout, the bridge's pooling noise, feature masking), the batch
augmentation's (coloured noise, speed) and, on CPU, BatchNorm's batch statistics
(SyncBatchNorm makes them global on GPUs)."""
import glob
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from arguments import get_args
from data.protocol import Trial
from tests.helpers import FIXTURES
from trainer.build import build_step, build_training_parts
from trainer.launch import free_port
from trainer.trainer import seed_everything

FILES = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))
STEPS = 3
# batch 8 = 2 bona fide + 6 spoof (1 + 3 per process on two); nothing random on the device
COMMON = ['batch_size=8', 'ratio_bona=0.25', 'ratio_spoof=0.75', 'num_train_frames=54', 'num_train_frames_short=44',
          'num_workers=0', 'lr=0.001', 'mask_p=0', 'colored_noise_p=0', 'speed_factors=[1.0]', 'loss_scope=global',
          'rand_seed=3']
SSL_BRIDGE = ['backbone=ssl_bridge', 'ssl_checkpoint=tiny-random', 'loss_weight=[1.0]']
HM_CONFORMER = ['output_size=32', 'linear_units=64', 'embedding_size=16']


def _trials():
    """8 bona fide + 24 spoof rows over the three real utterances: four steps per epoch."""
    return ([Trial(f'b{i}', FILES[i % 3], 1, 'bonafide') for i in range(8)]
            + [Trial(f's{i}', FILES[i % 3], 0, 'A01') for i in range(24)])


def _without_model_draws(detector: nn.Module) -> None:
    for module in detector.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if hasattr(module, 'noise_std'):
            module.noise_std = 0.0


def _train(rank: int, world: int, port: int, overrides: list, out: str, hm_check: str) -> None:
    """`hm_check`: '' (as configured), 'batch' or 'fixed' (SGD, BatchNorm on batch or fixed statistics)."""
    if world > 1:
        os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'] = '127.0.0.1', str(port)
        dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.set_num_threads(1)
    args = get_args(overrides)[0]
    seed_everything(args['rand_seed'])
    parts = build_training_parts(args, _trials(), rank, world)
    _without_model_draws(parts.detector)
    parts.loader.set_epoch(1)
    parts.detector.start_epoch(1)
    parts.model.train()
    if hm_check == 'fixed':
        for module in parts.detector.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    if hm_check:
        # SGD: some gradients are zero in exact arithmetic (the key biases and relative-position
        # directions that shift a whole row of attention scores, which the softmax ignores), and
        # Adam would turn their rounding noise, which depends on the summation order, into steps
        # of lr's size
        parts.optimizer = torch.optim.SGD(parts.detector.parameters(), lr=args['lr'])
        parts.step = build_step(args, parts.model, parts.optimizer, parts.objective, parts.batch_augment)
    initial = {name: p.detach().clone() for name, p in parts.detector.named_parameters()}
    losses = []
    for step, (long_wave, short_wave, labels) in enumerate(parts.loader):
        if step == STEPS:
            break
        result = parts.step(long_wave, short_wave, labels)
        losses.append((result.loss_1, result.loss_2))
    torch.save({'initial': initial, 'parameters': {name: p.detach().clone() for name, p in parts.detector.named_parameters()},
                'buffers': {name: b.clone() for name, b in parts.detector.named_buffers()}, 'losses': losses},
               os.path.join(out, f'{world}_{rank}.pt'))
    if world > 1:
        dist.destroy_process_group()


def _run(tmp_path, overrides, world, hm_check=''):
    if world == 1:
        _train(0, 1, 0, overrides, str(tmp_path), hm_check)
    else:
        mp.spawn(_train, args=(world, free_port(), overrides, str(tmp_path), hm_check), nprocs=world, join=True)
    return [torch.load(tmp_path / f'{world}_{rank}.pt') for rank in range(world)]


def _largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[name].float() - b[name].float()).abs().max().item() for name in a)


@pytest.mark.slow
def test_two_processes_follow_one_with_the_ssl_bridge(tmp_path):
    one, = _run(tmp_path, COMMON + SSL_BRIDGE, 1)
    two = _run(tmp_path, COMMON + SSL_BRIDGE, 2)
    assert _largest_difference(two[0]['parameters'], two[1]['parameters']) == 0
    assert _largest_difference(one['initial'], one['parameters']) > 1e-3      # the steps moved the model
    assert _largest_difference(one['parameters'], two[0]['parameters']) < 1e-5
    for (a1, a2), (b1, b2) in zip(one['losses'], two[0]['losses']):
        assert abs(a1 - b1) < 1e-5 and abs(a2 - b2) < 1e-5


@pytest.mark.slow
def test_with_the_losses_per_process_two_processes_depart_from_one(tmp_path):
    """The authors' DDP (loss_scope=process): each process pairs only its own bona fide rows,
    so the trajectory leaves the one-process one. This is what loss_scope=global changes."""
    per_process = [item for item in COMMON if item != 'loss_scope=global'] + ['loss_scope=process']
    one, = _run(tmp_path, per_process + SSL_BRIDGE, 1)
    two = _run(tmp_path, per_process + SSL_BRIDGE, 2)
    assert _largest_difference(one['parameters'], two[0]['parameters']) > 1e-4


@pytest.mark.slow
def test_hm_conformer_differs_by_its_per_process_batch_norm_statistics_on_cpu(tmp_path):
    """HM-Conformer on two CPU processes: BatchNorm standardises each process's rows with
    their own mean and variance, so the parameters and running statistics differ from one
    process's; with BatchNorm on fixed statistics (eval mode) the two runs agree to 1e-5
    again, so BatchNorm is all that differs."""
    one, = _run(tmp_path, COMMON + HM_CONFORMER, 1, 'batch')
    two = _run(tmp_path, COMMON + HM_CONFORMER, 2, 'batch')
    assert _largest_difference(one['parameters'], two[0]['parameters']) > 1e-4
    statistics = {name: value for name, value in one['buffers'].items() if 'running_mean' in name}
    assert _largest_difference(statistics, {name: two[0]['buffers'][name] for name in statistics}) > 1e-4
    one, = _run(tmp_path, COMMON + HM_CONFORMER, 1, 'fixed')
    two = _run(tmp_path, COMMON + HM_CONFORMER, 2, 'fixed')
    assert _largest_difference(one['initial'], one['parameters']) > 1e-3
    assert _largest_difference(one['parameters'], two[0]['parameters']) < 1e-5
