"""compile=True: torch.compile of the detector's forward, off by default. On CPU the tests
trace with the 'aot_eager' backend (Dynamo's graph capture and AOTAutograd, no code
generation): the losses of a few steps equal the eager ones, the state_dict keys are the
plain module's, and a compiled run (Dynamo's capture alone, the 'eager' backend, for time)
trains, saves and resumes."""
import os

import pytest
import torch

from tests.helpers import ebm_step_setup as _setup, feature_batch as _batch, tiny_args
from trainer.build import compile_detector
from trainer.ebm_step import ebm_step
from trainer.trainer import Trainer
from utils.checkpoint_file import load_checkpoint
from utils.config import ConfigError


SHALLOW = ['num_blocks=3', 'downsample_layer=[0,1]']     # Dynamo's capture time grows with the graph


def _losses(backend=None, steps=3):
    args, detector, optimizer, objective = _setup(SHALLOW)
    if backend:
        compile_detector(detector, backend)
    losses = [ebm_step(detector, optimizer, objective, *_batch(step)) for step in range(steps)]
    return [(r.loss_1, r.loss_2) for r in losses], detector


def test_compiled_steps_give_the_eager_losses():
    torch._dynamo.reset()
    eager, plain = _losses()
    compiled, detector = _losses('aot_eager')
    assert detector._compiled_call_impl is not None                 # the forward really is compiled
    for (a1, a2), (b1, b2) in zip(eager, compiled):
        assert b1 == pytest.approx(a1, rel=1e-5) and b2 == pytest.approx(a2, rel=1e-5)
    assert list(detector.state_dict()) == list(plain.state_dict())  # no '_orig_mod.' prefix


def test_an_unknown_backend_is_refused_naming_the_key():
    _, detector, _, _ = _setup(SHALLOW)
    with pytest.raises(ConfigError, match="compile_backend='no_such_backend'"):
        compile_detector(detector, 'no_such_backend')


@pytest.mark.slow
def test_a_compiled_run_trains_saves_and_resumes(demo_corpus, tmp_path):
    torch._dynamo.reset()
    small = ('name=compiled', 'compile=True', 'compile_backend=eager', 'path_21LA=None', 'path_21DF=None', *SHALLOW)
    Trainer(tiny_args(demo_corpus, tmp_path, *small, 'epoch=1')).run()
    resumed = Trainer(tiny_args(demo_corpus, tmp_path, *small, 'epoch=2', 'resume=auto'))
    resumed.run()
    state = load_checkpoint(os.path.join(resumed.run_dir, 'models', 'last.pt'))
    assert state['epoch'] == 2 and state['args']['compile']
    assert not any(key.startswith('_orig_mod') for key in state['model'])
    losses = open(os.path.join(resumed.run_dir, 'metrics', 'train_loss_1.txt')).read().splitlines()
    assert len(losses) == 2 * 20 and all(float(line.split(': ')[1]) > 0 for line in losses)
