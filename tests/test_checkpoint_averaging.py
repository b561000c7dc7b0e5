"""Checkpoint averaging: the mean of every tensor, usable like any checkpoint."""
import os

import pytest
import torch

from evaluation.checkpoint_averaging import average_state_dicts
from tests.helpers import FIXTURES, tiny_args
from tools import average_checkpoints as average_tool
from tools import infer
from trainer.trainer import Trainer
from utils.checkpoint_file import CheckpointError, load_checkpoint


def _state(seed):
    generator = torch.Generator().manual_seed(seed)
    return {'weight': torch.randn(3, 4, generator=generator), 'half': torch.randn(5, generator=generator).half(),
            'bn.num_batches_tracked': torch.tensor(seed * 3 + 1)}


def test_averaging_copies_of_one_state_gives_it_back():
    state = _state(0)
    averaged = average_state_dicts([state, state, state])
    assert all(torch.equal(averaged[k], state[k]) and averaged[k].dtype == state[k].dtype for k in state)


def test_averaging_two_states_gives_the_exact_mean_of_every_tensor():
    a, b = _state(1), _state(2)
    averaged = average_state_dicts([a, b])
    assert torch.equal(averaged['weight'], ((a['weight'].double() + b['weight'].double()) / 2).float())
    assert torch.equal(averaged['half'], ((a['half'].double() + b['half'].double()) / 2).half())
    assert averaged['bn.num_batches_tracked'].item() == (4 + 7) // 2    # integers: the floor of the mean


def test_states_of_different_models_are_refused_by_name():
    a, b = _state(1), _state(2)
    b['weight'] = torch.zeros(2, 2)
    with pytest.raises(CheckpointError, match=r"weight is \(2, 2\) in B.pt but \(3, 4\) in A.pt"):
        average_state_dicts([a, b], ['A.pt', 'B.pt'])
    del b['weight']
    with pytest.raises(CheckpointError, match='hold different tensors: weight'):
        average_state_dicts([a, b], ['A.pt', 'B.pt'])


def test_an_averaged_checkpoint_works_with_test_and_infer(tiny_run, demo_corpus, tmp_path, capsys):
    epoch_1 = os.path.join(tiny_run, 'models', 'epoch_1.pt')
    out = str(tmp_path / 'averaged.pt')
    assert average_tool.main([epoch_1, epoch_1, '--out', out]) == 0
    averaged, original = load_checkpoint(out), load_checkpoint(epoch_1)
    assert all(torch.equal(averaged['model'][k], original['model'][k]) for k in original['model'])
    assert averaged['averaged_epochs'] == [1, 1] and 'threshold' not in averaged
    wave = os.path.join(FIXTURES, 'asvspoof2019_la', sorted(os.listdir(os.path.join(FIXTURES, 'asvspoof2019_la')))[0])
    assert infer.main(['--checkpoint', out, '--device', 'cpu', wave]) == 2    # no threshold of its own
    assert 'TEST=True' in capsys.readouterr().err
    assert infer.main(['--checkpoint', out, '--device', 'cpu', '--threshold', '0.1', wave]) == 0
    tester = Trainer(tiny_args(demo_corpus, tmp_path / 'logs', 'TEST=True', f'checkpoint={out}', 'path_21LA=None',
                               'path_21DF=None'))
    tester.run()
    with open(os.path.join(tiny_run, 'scores', '19LA_epoch1.txt')) as handle:   # same weights, same scores
        assert open(os.path.join(tester.run_dir, 'scores', '19LA_epoch1.txt')).read() == handle.read()
    selected = os.path.join(tester.run_dir, 'models', 'selected.pt')
    assert load_checkpoint(selected)['threshold'] == pytest.approx(original['threshold'])
    capsys.readouterr()
    assert infer.main(['--checkpoint', selected, '--device', 'cpu', wave]) == 0
