import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.helpers import ebm_step_setup as _setup, feature_batch as _batch
from trainer.distributed import wrap_detector
from trainer.ebm_step import ebm_step
from trainer.launch import free_port


class RecordingAdam(torch.optim.Adam):
    """Adam that records, at each step, which parameters carry a gradient."""

    def __init__(self, named, **kwargs):
        self.names = {id(p): n for n, p in named}
        super().__init__([p for _, p in named], **kwargs)
        self.with_grad = []

    def step(self, closure=None):
        self.with_grad.append({self.names[id(p)] for g in self.param_groups for p in g['params']
                               if p.grad is not None})
        return super().step(closure)


def _snapshot(detector):
    return {n: p.detach().clone() for n, p in detector.named_parameters()}


def test_step1_moves_only_the_network_and_step2_only_the_centroids():
    args, detector, _, objective = _setup()
    optimizer = RecordingAdam(list(detector.named_parameters()), lr=1e-3, weight_decay=1e-4)
    long_f, short_f, labels = _batch()
    before = _snapshot(detector)
    centroid_names = set(detector.centroid_names())

    original_step = optimizer.step
    snapshots = []

    def step_and_snapshot(closure=None):
        result = original_step(closure)
        snapshots.append(_snapshot(detector))
        return result

    optimizer.step = step_and_snapshot
    loss_1, loss_2, bona_embeddings = ebm_step(detector, optimizer, objective, long_f, short_f, labels)
    assert [tuple(e.shape) for e in bona_embeddings] == [(2, 16)] * 5
    assert loss_1 > 0 and loss_2 > 0
    after_1, after_2 = snapshots
    for name in centroid_names:
        assert torch.equal(after_1[name], before[name])
        assert not torch.equal(after_2[name], after_1[name])
    assert any(not torch.equal(after_1[n], before[n]) for n in before if n not in centroid_names)
    for name in before:
        if name not in centroid_names:
            assert torch.equal(after_2[name], after_1[name]), name
    step1_grads, step2_grads = optimizer.with_grad
    assert step1_grads == set(before) - centroid_names
    assert step2_grads == centroid_names


def test_joint_mode_is_one_step_with_the_centroids():
    args, detector, _, objective = _setup(['centroid_update=joint'])
    optimizer = RecordingAdam(list(detector.named_parameters()), lr=1e-3)
    long_f, short_f, labels = _batch()
    loss_1, loss_2, _ = ebm_step(detector, optimizer, objective, long_f, short_f, labels, 'joint')
    assert loss_2 is None
    assert optimizer.with_grad == [set(n for n, _ in detector.named_parameters())]


def test_bpl_off_skips_the_short_view():
    args, detector, optimizer, objective = _setup(['use_bpl=False'])
    long_f, _, labels = _batch()
    calls = []
    detector.register_forward_hook(lambda module, inputs, output: calls.append(1))
    ebm_step(detector, optimizer, objective, long_f, None, labels)
    assert len(calls) == 2  # step 1 long view, step 2 the whole long batch again


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'] = '127.0.0.1', str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.set_num_threads(1)
    args, detector, optimizer, objective = _setup()
    model = wrap_detector(detector)
    for step in range(3):
        long_f, short_f, labels = _batch(seed=100 * rank + step, rows=6, bona=2)
        ebm_step(model, optimizer, objective, long_f, short_f, labels)
    torch.save({n: p.detach() for n, p in detector.named_parameters()}, os.path.join(out_dir, f'rank{rank}.pt'))
    # the private DDP call of trainer/distributed.py (no public one exists): the centroids are not DDP's
    registered = {id(p) for p in model._module_parameters}
    detector.centroids[0].grad = None
    detector.centroids[0].requires_grad_(True)
    (detector.centroids[0] * (rank + 1)).sum().backward()  # outside DDP's forward: stays per process
    torch.save({'ignored': sorted(model.parameters_to_ignore), 'grad': detector.centroids[0].grad.clone(),
                'registered': any(id(c) in registered for c in detector.centroids)},
               os.path.join(out_dir, f'ddp{rank}.pt'))
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_gloo_three_steps_keep_ranks_identical(tmp_path):
    mp.spawn(_ddp_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / 'rank0.pt')
    rank1 = torch.load(tmp_path / 'rank1.pt')
    _, fresh, _, _ = _setup()
    assert set(rank0) == set(rank1)
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    for name in fresh.centroid_names():
        assert not torch.equal(rank0[name], dict(fresh.named_parameters())[name])
    for rank in (0, 1):
        ddp = torch.load(tmp_path / f'ddp{rank}.pt')
        assert ddp['ignored'] == fresh.centroid_names() and not ddp['registered']
        assert torch.equal(ddp['grad'], torch.full_like(ddp['grad'], float(rank + 1)))


def test_no_batchnorm_sees_the_bona_fide_rows_alone():
    """Every BatchNorm forward of a training step normalises the whole batch (10 rows),
    step 2 included: 4 bona fide rows alone would be standardised among themselves."""
    args, detector, optimizer, objective = _setup()
    long_f, short_f, labels = _batch(rows=10, bona=2)
    seen = []
    for module in detector.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.register_forward_hook(lambda m, inputs, output: seen.append(inputs[0].shape[0]))
    ebm_step(detector, optimizer, objective, long_f, short_f, labels)
    assert seen and set(seen) == {10}


def _separable_batch(generator, rows=12, bona=4):
    """Bona fide and spoof features from two shifted distributions, so that a network
    can tell them apart and the bona fide mean embedding has a direction to find."""
    labels = torch.tensor([1] * bona + [0] * (rows - bona))
    features = torch.randn(rows, 30, 120, generator=generator)
    features[labels == 1] += 0.5
    return features, labels


def test_two_step_update_moves_the_centroid_toward_the_bona_fide_mean():
    args, detector, _, objective = _setup(['lr=0.01', 'use_bpl=False'])
    optimizer = torch.optim.Adam(detector.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(1)

    def cosine_to_bona_mean():
        features, labels = _separable_batch(torch.Generator().manual_seed(99), rows=40, bona=20)
        with torch.no_grad():
            embedding = detector(features)[-1][labels == 1]
        mean = torch.nn.functional.normalize(embedding, dim=1).mean(0)
        return torch.nn.functional.cosine_similarity(mean, detector.centroids[-1][0], dim=0).item()

    detector.train()
    before = cosine_to_bona_mean()
    losses_2 = []
    for _ in range(40):
        features, labels = _separable_batch(generator)
        _, loss_2, _ = ebm_step(detector, optimizer, objective, features, None, labels)
        losses_2.append(loss_2)
    after = cosine_to_bona_mean()
    assert after > 0.6 and after > before + 0.3, (before, after)
    assert sum(losses_2[-5:]) < 0.5 * sum(losses_2[:5]), losses_2
