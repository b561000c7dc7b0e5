import glob
import os
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from arguments import get_args
from data.protocol import Trial
from data.validation import DatasetError
from tests.helpers import FIXTURES, TINY, tiny_args
from trainer.build import build_detector
from trainer.launch import free_port
from trainer.scoring import score_trials
from trainer.trainer import Trainer, TrainingDiverged, seed_everything
from utils.checkpoint_file import CheckpointError, load_checkpoint

def _ddp_worker(rank, world, port, args, out_dir):
    os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'] = '127.0.0.1', str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.set_num_threads(1)
    trainer = Trainer(args, rank, world, torch.device('cpu'))
    trainer.run()
    torch.save({n: p.detach() for n, p in trainer.detector.named_parameters()}, os.path.join(out_dir, f'{rank}.pt'))
    dist.destroy_process_group()


@pytest.mark.slow
def test_demo_schedule_under_two_process_gloo_ddp(demo_corpus, tmp_path):
    args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=ddp', 'average_last=2')
    mp.spawn(_ddp_worker, args=(2, free_port(), args, str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = torch.load(tmp_path / '0.pt'), torch.load(tmp_path / '1.pt')
    for name in rank0:   # after the averaged model, loaded on rank 0 and broadcast
        assert torch.equal(rank0[name], rank1[name]), name
    run = tmp_path / 'logs' / 'P' / 't' / 'ddp'
    averaged = load_checkpoint(str(run / 'models' / 'averaged.pt'))['model']
    assert all(torch.equal(rank0[name], averaged[name]) for name in rank0)
    losses = (run / 'metrics' / 'train_loss_1.txt').read_text().splitlines()
    steps_per_epoch = 480 // 2 // 2 // 6  # 240 spoof rows, 2 ranks, 6 spoof rows per rank
    assert len(losses) == 2 * steps_per_epoch and losses[0].startswith('[1] train/loss_1: ')
    assert len((run / 'metrics' / 'train_loss_2.txt').read_text().splitlines()) == len(losses)
    for head in range(5):  # the centroid health signal, once per epoch and head
        lines = (run / 'metrics' / f'train_centroid_cosine_head_{head}.txt').read_text().splitlines()
        assert [line.split(':')[0] for line in lines] == [f'[1] train/centroid_cosine/head_{head}',
                                                          f'[2] train/centroid_cosine/head_{head}']
        assert all(-1 <= float(line.split(': ')[1]) <= 1 for line in lines)
    for name, count in (('19LA', 210), ('21LA', 150), ('21DF', 150)):
        assert len((run / 'metrics' / f'eval_{name}_eer.txt').read_text().splitlines()) == 2
        for epoch in (1, 2):
            lines = (run / 'scores' / f'{name}_epoch{epoch}.txt').read_text().splitlines()
            assert len(lines) == count and len({line.split()[0] for line in lines}) == count
            assert (run / 'scores' / f'{name}_epoch{epoch}.tsv').is_file()
            assert (run / 'images' / f'{name}_det_epoch{epoch}.png').is_file()
    state = load_checkpoint(str(run / 'models' / 'last.pt'))
    assert state['epoch'] == 2 and [r['epoch'] for r in state['records']] == [1, 2]
    assert set(state['records'][-1]['sets']) == {'19LA', '21LA', '21DF'}
    assert state['threshold'] == state['records'][-1]['dev']['threshold']   # development data, not 19LA eval
    assert (run / 'models' / 'epoch_1.pt').is_file() and (run / 'models' / 'epoch_2.pt').is_file()


@pytest.mark.slow
def test_resume_after_epoch_one_matches_an_uninterrupted_run(demo_corpus, tmp_path):
    skip_eval = ['path_21LA=None', 'path_21DF=None', 'eval_from_epoch=5']
    straight = Trainer(tiny_args(demo_corpus, tmp_path, 'name=straight', *skip_eval))
    straight.run()
    first = Trainer(tiny_args(demo_corpus, tmp_path, 'name=resumed', 'epoch=1', *skip_eval))
    first.run()
    second = Trainer(tiny_args(demo_corpus, tmp_path, 'name=resumed', 'resume=auto', *skip_eval))
    second.run()
    assert second.epoch == 2
    a, b = straight.detector.state_dict(), second.detector.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.slow
def test_resume_mid_epoch_matches_an_uninterrupted_run(demo_corpus, tmp_path, monkeypatch):
    skip_eval = ['path_21LA=None', 'path_21DF=None', 'eval_from_epoch=5', 'epoch=1']
    straight = Trainer(tiny_args(demo_corpus, tmp_path, 'name=straight', *skip_eval))
    straight.run()
    interrupted = Trainer(tiny_args(demo_corpus, tmp_path, 'name=stopped', *skip_eval))
    import trainer.ebm_step as module
    original = module.TwoStepUpdate.__call__
    calls = []

    def stop_after_three(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            interrupted.stop_requested = True  # what SIGINT does
        return original(*a, **k)

    monkeypatch.setattr(module.TwoStepUpdate, '__call__', stop_after_three)
    interrupted.run()
    monkeypatch.setattr(module.TwoStepUpdate, '__call__', original)
    assert interrupted.step_in_epoch == 3 and interrupted.epoch == 0
    resumed = Trainer(tiny_args(demo_corpus, tmp_path, 'name=stopped', 'resume=auto', *skip_eval))
    resumed.run()
    a, b = straight.detector.state_dict(), resumed.detector.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(demo_corpus, tmp_path, monkeypatch):
    args = tiny_args(demo_corpus, tmp_path, 'name=nan', 'path_21LA=None', 'path_21DF=None', 'eval_from_epoch=5')
    trainer = Trainer(args)
    import trainer.ebm_step as module
    original, calls = module.TwoStepUpdate.__call__, []

    def nan_in_epoch_two(*a, **k):
        calls.append(1)
        result = original(*a, **k)
        return result._replace(loss_1=float('nan')) if len(calls) == 23 else result

    monkeypatch.setattr(module.TwoStepUpdate, '__call__', nan_in_epoch_two)
    with pytest.raises(TrainingDiverged, match=r'non-finite at step 23 \(epoch 2\)'):
        trainer.run()
    assert load_checkpoint(trainer.last_path)['epoch'] == 1


def test_missing_dataset_stops_before_training(demo_corpus, tmp_path):
    with pytest.raises(DatasetError, match='path_21DF'):
        Trainer(tiny_args(demo_corpus, tmp_path, 'path_21DF=/no/such/folder'))


def test_corrupted_checkpoint_is_named(demo_corpus, tmp_path):
    broken = tmp_path / 'broken.pt'
    broken.write_bytes(b'this is not a checkpoint')
    trainer = Trainer(tiny_args(demo_corpus, tmp_path, f'resume={broken}', 'path_21LA=None', 'path_21DF=None'))
    with pytest.raises(CheckpointError, match=str(broken)):
        trainer.run()


@pytest.mark.slow
def test_test_mode_evaluates_a_saved_model(demo_corpus, tiny_run, tmp_path):
    checkpoint = os.path.join(tiny_run, 'models', 'epoch_1.pt')
    tester = Trainer(tiny_args(demo_corpus, tmp_path, 'name=test', 'TEST=True', f'checkpoint={checkpoint}',
                               'path_21DF=None'))
    tester.run()
    assert tester.run_dir == str(tmp_path / 'P' / 't' / 'test_tiny_epoch_1')
    # The same ids in the same order with the same scores; a score may differ in its last printed
    # digit (6 decimals), since BLAS kernels may round differently between two calls on one CPU.
    for name in ('19LA', '21LA'):
        trained = _score_lines(os.path.join(tiny_run, 'scores', f'{name}_epoch1.txt'))
        tested = _score_lines(str(tmp_path / 'P' / 't' / 'test_tiny_epoch_1' / 'scores' / f'{name}_epoch1.txt'))
        assert [row[0] for row in tested] == [row[0] for row in trained]
        assert np.allclose([row[1] for row in tested], [row[1] for row in trained], rtol=0, atol=2e-6)


def _score_lines(path: str) -> list:
    with open(path) as handle:
        return [(line.split()[0], float(line.split()[1])) for line in handle]


def _score_worker(rank, world, port, args, trials, out_dir):
    os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'] = '127.0.0.1', str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(0)
    detector = build_detector(args)
    scores = score_trials(detector, trials, 16_000, 2, torch.device('cpu'))
    np.save(os.path.join(out_dir, f'{rank}.npy'), scores)
    dist.destroy_process_group()


@pytest.mark.slow
def test_evaluation_gathers_one_score_per_trial_with_an_odd_count(tmp_path):
    files = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))
    trials = [Trial(f'utt{i}', files[i % 3], i % 2, 'bonafide' if i % 2 else 'A01') for i in range(7)]
    args = get_args(TINY)[0]
    mp.spawn(_score_worker, args=(2, free_port(), args, trials, str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    expected = score_trials(build_detector(args), trials, 16_000, 2, torch.device('cpu'))
    for rank in (0, 1):
        scores = np.load(tmp_path / f'{rank}.npy')
        assert scores.shape == (7,)
        assert np.allclose(scores, expected, atol=1e-5)


@pytest.mark.parametrize('deterministic', [True, False])
def test_seed_everything_sets_the_cudnn_flags(deterministic):
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    try:
        seed_everything(1, deterministic)
        assert torch.backends.cudnn.deterministic is deterministic
        assert torch.backends.cudnn.benchmark is (not deterministic)
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


@pytest.mark.slow
def test_evaluation_reads_audio_at_the_configured_sample_rate(demo_corpus, tiny_run, tmp_path):
    """sample_rate reaches evaluation as it reaches training and tools.infer: at 8 kHz every
    file is read (resampled) at 8 kHz before its test crop is scored."""
    from data.audio import read_audio
    from data.protocol import read_asvspoof2019
    from data.views import crop_samples, make_view
    checkpoint = os.path.join(tiny_run, 'models', 'epoch_1.pt')
    args = tiny_args(demo_corpus, tmp_path, 'name=rate', 'TEST=True', f'checkpoint={checkpoint}', 'sample_rate=8000',
                     'path_21LA=None', 'path_21DF=None')
    tester = Trainer(args)
    tester.run()
    with open(os.path.join(tester.run_dir, 'scores', '19LA_epoch1.txt')) as handle:
        logged = dict((line.split()[0], float(line.split()[1])) for line in handle)
    detector = build_detector(args).eval()
    detector.load_state_dict(load_checkpoint(checkpoint)['model'])
    trials = read_asvspoof2019(demo_corpus['path_19LA'], 'eval')[:4]
    crop = crop_samples(args['num_test_frames'], args['hop'])
    waves = torch.stack([torch.from_numpy(make_view(read_audio(t.path, 8000), crop, False, None)).float()
                         for t in trials])
    with torch.no_grad():
        expected = detector.score(waves)
    assert np.allclose([logged[t.utt_id] for t in trials], expected.numpy(), atol=1e-5)


@pytest.mark.slow
def test_the_epoch_line_shows_how_long_training_waited_for_data(demo_corpus, tmp_path, tiny_run):
    def fraction_of(run_dir):
        lines = open(os.path.join(run_dir, 'metrics', 'train_data_wait_fraction.txt')).read().splitlines()
        rates = open(os.path.join(run_dir, 'metrics', 'train_items_per_s.txt')).read().splitlines()
        assert len(lines) == len(rates) == 1 and float(rates[0].split(': ')[1]) > 0
        return float(lines[0].split(': ')[1])

    assert 0 <= fraction_of(tiny_run) < 1
    trainer = Trainer(tiny_args(demo_corpus, tmp_path, 'name=slow', 'epoch=1', 'path_21LA=None', 'path_21DF=None'))
    iterate = trainer.loader.iterate

    def slow(start):   # a loader that takes 0.3 s per batch, far longer than the tiny step
        for batch in iterate(start):
            time.sleep(0.3)
            yield batch
    trainer.loader.iterate = slow
    trainer.run()
    assert fraction_of(trainer.run_dir) > 0.5
