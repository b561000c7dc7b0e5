"""The catalogue of bad input: each case breaks a copy of the demo corpus (or the
command line, or a checkpoint) the way a user might, and asserts either the named
error before any training starts (`main.main` exits 2 and says what and where) or the
correct recovery. Interruptions (SIGINT, kill -9, then resume=auto) are at the end."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import torch

import main
from arguments import get_args
from data.datasets import EvalDataset, TwoViewDataset
from data.protocol import Trial
from tests.helpers import REPO, TINY, metric_steps, tiny_args
from trainer.launch import preflight
from trainer.trainer import Trainer, TrainingDiverged
from utils.atomic import atomic_torch_save
from utils.checkpoint_file import load_checkpoint

LA19_EVAL = 'LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.eval.trl.txt'
LA21 = 'keys/LA/CM/trial_metadata.txt'
FIXTURE_AUDIO = os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', 'LA_T_1272637.flac')


@pytest.fixture
def corpus(demo_corpus, tmp_path):
    """A private copy of the demo corpus (without the vocoded copies) to break."""
    roots = {}
    for key, root in demo_corpus.items():
        roots[key] = str(tmp_path / 'corpus' / os.path.basename(root))
        shutil.copytree(root, roots[key], ignore=shutil.ignore_patterns('vocoder'))
    return roots


def _lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


def _write_lines(path, lines):
    with open(path, 'w') as handle:
        handle.write(''.join(line + '\n' for line in lines))


def _first_eval_audio(corpus):
    utt = _lines(os.path.join(corpus['path_19LA'], LA19_EVAL))[0].split()[1]
    return os.path.join(corpus['path_19LA'], 'LA/ASVspoof2019_LA_eval/flac', utt + '.flac'), utt


def _missing_root(corpus, tmp_path):
    return ['path_21LA=/no/such/folder'], ["/no/such/folder", 'path_21LA', 'Expected layout']


def _missing_protocol(corpus, tmp_path):
    os.remove(os.path.join(corpus['path_21LA'], LA21))
    return [], ['21LA', 'protocol file not found', LA21]


def _missing_audio(corpus, tmp_path):
    path, _ = _first_eval_audio(corpus)
    os.remove(path)
    return [], ['19LA eval', '1 of 210 audio files', path]


def _malformed_row(corpus, tmp_path):
    protocol = os.path.join(corpus['path_19LA'], LA19_EVAL)
    _write_lines(protocol, _lines(protocol) + ['LA_0001 LA_E_9'])
    return [], [f"{protocol}:211", '2 columns']


def _duplicate_rows(corpus, tmp_path):
    protocol = os.path.join(corpus['path_19LA'], LA19_EVAL)
    lines = _lines(protocol)
    _write_lines(protocol, lines + lines[:2])
    return [], [protocol, '2 utterance ids more than once', lines[0].split()[1], lines[1].split()[1]]


def _one_class(corpus, tmp_path):
    protocol = os.path.join(corpus['path_21LA'], LA21)
    _write_lines(protocol, [line for line in _lines(protocol) if ' spoof ' in line])
    return [], [protocol, '0 bona fide and 120 spoof rows', 'both classes']


def _empty_protocol(corpus, tmp_path):
    protocol = os.path.join(corpus['path_21LA'], LA21)
    _write_lines(protocol, [])
    return [], [protocol, 'lists no trials']


def _empty_audio(corpus, tmp_path):
    path, _ = _first_eval_audio(corpus)
    open(path, 'wb').close()
    return [], ['19LA eval', '1 of 210 audio files cannot be read', path]


def _corrupt_audio(corpus, tmp_path):
    path, _ = _first_eval_audio(corpus)
    with open(path, 'wb') as handle:
        handle.write(b'fLaC' + os.urandom(300))
    return [], ['cannot be read', path]


def _corrupt_body_with_preflight_decode(corpus, tmp_path):
    path, _ = _first_eval_audio(corpus)
    data = bytearray(open(path, 'rb').read())
    data[len(data) // 2:] = os.urandom(len(data) - len(data) // 2)   # a valid header over a corrupt body
    open(path, 'wb').write(bytes(data))
    return ['preflight_decode=True'], ['19LA eval', '1 of 210 audio files cannot be read', path]


def _no_frames(corpus, tmp_path):
    path, _ = _first_eval_audio(corpus)
    sf.write(path, np.zeros(0), 16000, format='WAV')  # a valid header announcing no samples
    return [], ['cannot be read', path, 'no audio frames']


def _latin1_protocol(corpus, tmp_path):
    protocol = os.path.join(corpus['path_19LA'], LA19_EVAL)
    lines = _lines(protocol)
    lines[6] = lines[6].replace(' - ', ' caf\u00e9 ', 1)
    with open(protocol, 'w', encoding='latin-1') as handle:
        handle.write(''.join(line + '\n' for line in lines))
    return [], [f"{protocol}:7: byte 0xe9", 'is not UTF-8']


def _bad_type(corpus, tmp_path):
    return ['epoch=three'], ["epoch='three'", 'int']


def _unknown_key(corpus, tmp_path):
    return ['learning_rate=0.1'], ["'learning_rate'", 'did you mean']


def _impossible_value(corpus, tmp_path):
    return ['ratio_bona=0.02'], ['batch_size=', 'at least 2 bona fide rows']


def _infinite_lr(corpus, tmp_path):
    return ['lr=inf'], ['lr=inf', 'must be a finite number > 0']


def _seed_past_numpy(corpus, tmp_path):
    return ['rand_seed=4294967296'], ['rand_seed=4294967296', 'must be an int in [0, 4,294,967,295]']


def _empty_name(corpus, tmp_path):
    return ['name='], ["name=''", 'must be a non-empty string']


def _batch_split_over_processes(corpus, tmp_path):
    return ['world_size=3'], ['batch_size=16 holds 4 bona fide + 12 spoof rows', 'which 3 processes cannot share',
                              'process counts that can: 1, 2, 4']


def _one_bona_fide_row_per_process(corpus, tmp_path):
    return ['world_size=4'], ['gives each of 4 processes 1 bona fide row', 'loss_scope=global']


def _too_short_test_crop(corpus, tmp_path):
    return ['num_test_frames=2'], ['num_test_frames=2', 'below its shortest, 9 frames']


def _path_log_is_a_file(corpus, tmp_path):
    (tmp_path / 'results').write_text('')
    return [f'path_log={tmp_path / "results"}'], [f"path_log='{tmp_path / 'results'}'", 'cannot be created or written',
                                                  'Not a directory']


def _path_log_under_proc(corpus, tmp_path):
    return ['path_log=/proc/ebm_results'], ["path_log='/proc/ebm_results'", 'cannot be created or written']


def _corrupt_test_checkpoint(corpus, tmp_path):
    path = tmp_path / 'broken.pt'
    path.write_bytes(b'not a checkpoint')
    return ['TEST=True', f'checkpoint={path}'], ['cannot read checkpoint', str(path)]


def _missing_resume_checkpoint(corpus, tmp_path):
    return [f'resume={tmp_path / "gone.pt"}'], ['checkpoint not found', 'gone.pt']


def _truncated_resume_checkpoint(corpus, tmp_path):
    path = tmp_path / 'last.pt'
    torch.save({'model': {}, 'optimizer': {}, 'scheduler': {}, 'epoch': 1, 'rng': {}, 'pad': torch.zeros(5000)}, path)
    path.write_bytes(path.read_bytes()[:2000])
    return [f'resume={path}'], ['cannot read checkpoint', str(path)]


def _model_only_resume_checkpoint(corpus, tmp_path):
    path = tmp_path / 'epoch_1.pt'
    torch.save({'model': {}, 'epoch': 1}, path)
    return [f'resume={path}'], [str(path), 'lacks', 'optimizer']


def _mismatched_test_checkpoint(corpus, tmp_path):
    from trainer.build import build_detector
    small = get_args(TINY + ['output_size=16', 'embedding_size=8'])[0]
    path = str(tmp_path / 'small.pt')
    atomic_torch_save({'model': build_detector(small).state_dict(), 'args': small, 'epoch': 1}, path)
    return ['TEST=True', f'checkpoint={path}'], [path, 'output_size=16', 'embedding_size=8', 'output_size=32']


def _mismatched_resume_checkpoint(corpus, tmp_path):
    from trainer.build import build_detector
    other = get_args(TINY + ['num_blocks=5'])[0]
    detector = build_detector(other)
    optimizer = torch.optim.Adam(detector.parameters())
    path = str(tmp_path / 'other.pt')
    atomic_torch_save({'model': detector.state_dict(), 'optimizer': optimizer.state_dict(), 'scheduler': {},
                       'epoch': 1, 'rng': {}, 'args': other}, path)
    return [f'resume={path}'], [path, 'num_blocks=5', 'num_blocks=6', 'Set num_blocks=5']


def _resume_checkpoint(tmp_path, **extra):
    """A resumable checkpoint of the TINY configuration (trained with lr=0.001, batch 16)."""
    from trainer.build import build_detector, build_optimizer
    saved = get_args(TINY)[0]
    detector = build_detector(saved)
    optimizer, scheduler = build_optimizer(saved, detector)
    path = str(tmp_path / 'last.pt')
    atomic_torch_save({'model': detector.state_dict(), 'optimizer': optimizer.state_dict(),
                       'scheduler': scheduler.state_dict(), 'epoch': 1, 'rng': {}, 'args': saved, **extra}, path)
    return path


def _resume_with_another_lr_and_batch(corpus, tmp_path):
    path = _resume_checkpoint(tmp_path)
    return [f'resume={path}', 'lr=0.01', 'batch_size=8'], [
        f'resume from {path} changes what the run was trained with', 'batch_size=16 -> 8', 'lr=0.001 -> 0.01',
        'resume_override=batch_size,lr']


def _resume_overrides_one_change_of_two(corpus, tmp_path):
    path = _resume_checkpoint(tmp_path)
    return [f'resume={path}', 'lr=0.01', 'batch_size=8', 'resume_override=lr'], ['batch_size=16 -> 8',
                                                                                  'resume_override=batch_size']


def _resume_on_other_training_rows(corpus, tmp_path):
    path = _resume_checkpoint(tmp_path, train_fingerprint='0' * 64, train_rows=150)
    return [f'resume={path}'], ['train_protocol: the training rows differ from the 150', '(now 300)',
                                'resume_override=train_protocol']


def _resume_override_of_no_key(corpus, tmp_path):
    path = _resume_checkpoint(tmp_path)
    return [f'resume={path}', 'resume_override=learning_rate'], ['resume_override=learning_rate',
                                                                  'learning_rate is not a key']


def _resume_override_on_a_fresh_run(corpus, tmp_path):
    return ['resume_override=bogus_key'], ['resume_override=bogus_key', 'bogus_key is not a key']


def _codec_cache_is_a_file(corpus, tmp_path):
    (tmp_path / 'cache').write_text('a file')
    return [f'codec_cache={tmp_path / "cache"}'], ['codec_cache=', 'is a file, not a folder']


def _codec_cache_cannot_be_written(corpus, tmp_path):
    return ['codec_cache=/proc/ebm_cache'], ["codec_cache='/proc/ebm_cache'", 'cannot be written']


CASES = [_missing_root, _missing_protocol, _missing_audio, _malformed_row, _duplicate_rows, _one_class,
         _empty_protocol, _latin1_protocol, _empty_audio, _corrupt_audio, _corrupt_body_with_preflight_decode,
         _no_frames, _bad_type, _unknown_key, _impossible_value,
         _infinite_lr, _seed_past_numpy, _empty_name, _batch_split_over_processes, _one_bona_fide_row_per_process,
         _too_short_test_crop, _path_log_is_a_file, _path_log_under_proc,
         _corrupt_test_checkpoint, _missing_resume_checkpoint, _truncated_resume_checkpoint,
         _model_only_resume_checkpoint, _mismatched_test_checkpoint, _mismatched_resume_checkpoint,
         _resume_with_another_lr_and_batch, _resume_overrides_one_change_of_two, _resume_on_other_training_rows,
         _resume_override_of_no_key, _resume_override_on_a_fresh_run, _codec_cache_is_a_file,
         _codec_cache_cannot_be_written]


@pytest.mark.parametrize('case', CASES, ids=[case.__name__.strip('_') for case in CASES])
def test_bad_input_is_named_before_training(case, corpus, tmp_path, capsys):
    overrides, expected = case(corpus, tmp_path)
    paths = [f"{key}={value}" for key, value in corpus.items()]
    code = main.main(paths + TINY + [f'path_log={tmp_path / "logs"}', 'name=bad'] + overrides)
    error = capsys.readouterr().err
    assert code == 2, error
    for text in expected:
        assert text in error, (text, error)
    assert not os.path.exists(tmp_path / 'logs' / 'P' / 't' / 'bad' / 'models' / 'last.pt')


def _replace_with(path, wave, rate):
    os.remove(path)
    sf.write(path, wave, rate, format='FLAC')


@pytest.mark.parametrize('kind', ['silent', 'very_short', 'stereo', 'other_rate'])
def test_unusual_but_valid_audio_passes_the_checks_and_is_read_right(kind, corpus, tmp_path, monkeypatch):
    import data.audio
    monkeypatch.setattr(data.audio, '_warned_rates', set())  # leave the once-per-rate warning to other tests
    path, utt = _first_eval_audio(corpus)
    rng = np.random.default_rng(0)
    waves = {'silent': (np.zeros(16_000), 16_000), 'very_short': (0.3 * rng.standard_normal(10), 16_000),
             'stereo': (0.3 * rng.standard_normal((16_000, 2)), 16_000),
             'other_rate': (0.3 * rng.standard_normal(44_100), 44_100)}
    _replace_with(path, *waves[kind])
    args = tiny_args(corpus, tmp_path / 'logs', 'name=ok')
    trials = preflight(args).trials
    trial = next(t for t in trials.evaluation['19LA'] if t.utt_id == utt)
    wave = EvalDataset([trial], 8_600)[0][0]
    assert wave.shape == (8_600,) and torch.isfinite(wave).all()
    views = TwoViewDataset([Trial(utt, path, 1, 'bonafide')], 8_600, 7_000, rand_seed=0)[0]
    assert views[0].shape == (8_600,) and views[1].shape == (7_000,)
    assert all(torch.isfinite(view).all() for view in views[:2])
    if kind == 'silent':
        assert torch.equal(wave, torch.zeros(8_600))
    if kind == 'very_short':  # wrap-padded: the ten samples repeat
        assert torch.equal(wave[:10], wave[10:20])


def test_a_nan_sample_is_named_in_training_evaluation_and_inference(corpus, tmp_path, capsys):
    """A float WAV with one NaN: a training item skips it and names it (it counts toward the
    unreadable share), an evaluation item and tools.infer name it (infer exits 1)."""
    from tools import infer
    wave = 0.1 * np.random.default_rng(0).standard_normal(16_000)
    wave[8_000] = np.nan
    broken, good = str(tmp_path / 'nan.wav'), str(tmp_path / 'good.wav')
    sf.write(broken, wave, 16_000, subtype='FLOAT')
    sf.write(good, np.nan_to_num(wave), 16_000, subtype='FLOAT')
    dataset = TwoViewDataset([Trial('nan', broken, 1, 'bonafide'), Trial('good', good, 1, 'bonafide')], 8_000, 6_000,
                             rand_seed=0, max_failure_rate=1.0)
    views = dataset[0]
    assert all(torch.isfinite(view).all() for view in views[:2]) and dataset.unreadable.count.value == 1
    assert 'nan.wav holds 1 non-finite sample' in capsys.readouterr().err
    with pytest.raises(Exception, match='nan.wav holds 1 non-finite sample'):
        EvalDataset([Trial('nan', broken, 1, 'bonafide')], 16_000)[0]
    args = tiny_args(corpus, tmp_path / 'logs', 'name=infer')
    from trainer.build import build_detector
    checkpoint = str(tmp_path / 'model.pt')
    atomic_torch_save({'model': build_detector(args).state_dict(), 'args': args, 'epoch': 1, 'threshold': 0.0},
                      checkpoint)
    assert infer.main(['--checkpoint', checkpoint, broken]) == 1
    assert 'nan.wav holds 1 non-finite sample' in capsys.readouterr().err


def _untrained_checkpoint(tmp_path):
    from trainer.build import build_detector
    args = get_args(TINY)[0]
    checkpoint = str(tmp_path / 'model.pt')
    atomic_torch_save({'model': build_detector(args).state_dict(), 'args': args, 'epoch': 1, 'threshold': 0.0},
                      checkpoint)
    return checkpoint


def test_infer_names_a_missing_path_an_empty_folder_and_an_absent_gpu(tmp_path, capsys, monkeypatch):
    from tools import infer
    checkpoint = _untrained_checkpoint(tmp_path)
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'notes' / 'readme.txt').write_text('no audio here')
    cases = [([str(tmp_path / 'gone.flac')], f"{tmp_path / 'gone.flac'}: no such file or folder"),
             ([str(tmp_path / 'notes')], f"{tmp_path / 'notes'}: the folder holds no audio file (.flac, .wav"),
             ([FIXTURE_AUDIO, '--device', 'cuda'], '--device cuda: no CUDA GPU is visible'),
             ([FIXTURE_AUDIO, '--device', 'gpu0'], '--device gpu0: not a device')]
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for arguments, message in cases:
        assert infer.main(['--checkpoint', checkpoint, *arguments]) == 2
        assert message in capsys.readouterr().err


def test_infer_full_scores_a_long_file_in_batches_of_windows(tmp_path, capsys):
    """--full over a 20 s file: the windows are scored --batch-size at a time, never all at
    once, and their mean equals the one-batch mean."""
    from inference import Detector
    from tools import infer
    checkpoint = _untrained_checkpoint(tmp_path)
    long_file = str(tmp_path / 'long.wav')
    sf.write(long_file, 0.1 * np.random.default_rng(1).standard_normal(20 * 16_000), 16_000)
    detector = Detector.from_pretrained(checkpoint)
    from data.audio import read_audio
    wave, crop = read_audio(long_file, 16_000), detector.crop
    starts = list(range(0, len(wave) - crop + 1, crop // 2)) + \
        ([len(wave) - crop] if (len(wave) - crop) % (crop // 2) else [])
    crops = np.stack([wave[start:start + crop] for start in starts])
    sizes = []
    original = detector.model.score
    detector.model.score = lambda batch: sizes.append(len(batch)) or original(batch)
    batched = detector.score(long_file, full=True, batch_size=4)
    with torch.no_grad():
        whole = float(original(torch.from_numpy(crops).float()).double().mean())
    assert len(crops) > 8 and max(sizes) == 4 and sum(sizes) == len(crops)
    assert batched == pytest.approx(whole, abs=1e-6)
    assert infer.main(['--checkpoint', checkpoint, '--full', '--batch-size', '4', '--json', long_file]) == 0
    assert json.loads(capsys.readouterr().out)['results'][0]['score'] == pytest.approx(whole, abs=1e-5)


def test_score_file_names_a_missing_output_folder_a_progress_only_key_and_reads_file_names(tmp_path, capsys):
    from tools import score_file
    protocol = tmp_path / 'key.txt'
    protocol.write_text('LA_0009 LA_E_1 alaw ita_tx A07 spoof notrim progress\n'
                        'LA_0009 LA_E_2 alaw ita_tx - bonafide notrim progress\n')
    scores = tmp_path / 'scores.txt'
    scores.write_text('LA_E_1 0.1\nLA_E_2 0.9\n')
    assert score_file.main(['--protocol', str(protocol), '--scores', str(scores)]) == 1
    assert "no 'eval' rows (the 8th column of a 2021 key): it holds only 'progress' rows" in capsys.readouterr().err
    protocol.write_text(protocol.read_text().replace('progress', 'eval'))
    out = tmp_path / 'missing' / 'breakdown.tsv'
    assert score_file.main(['--protocol', str(protocol), '--scores', str(scores), '--tsv', str(out)]) == 1
    assert f"--tsv {out}: the folder {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    meta = tmp_path / 'meta.csv'
    meta.write_text('file,speaker,label\n0.wav,A,spoof\n1.wav,A,bona-fide\n')
    named = tmp_path / 'itw_scores.txt'
    named.write_text('0.wav -1.0\n1.wav 2.0\n')
    assert score_file.main(['--protocol', str(meta), '--scores', str(named), '--json']) == 0
    assert json.loads(capsys.readouterr().out)['eer'] == 0.0


def test_a_divergence_before_any_checkpoint_does_not_claim_one(demo_corpus, tmp_path, monkeypatch):
    """A loss that turns NaN at the first step: the message says no checkpoint had been
    written yet instead of naming a last.pt that does not exist."""
    import trainer.ebm_step as module
    real_step = module.TwoStepUpdate.__call__
    monkeypatch.setattr(module.TwoStepUpdate, '__call__', lambda *a, **k: real_step(*a, **k)._replace(loss_1=float('nan')))
    run = Trainer(tiny_args(demo_corpus, tmp_path, 'name=diverged', 'path_21LA=None', 'path_21DF=None'))
    with pytest.raises(TrainingDiverged) as raised:
        run.run()
    assert not os.path.exists(run.last_path) and 'no checkpoint had been written yet' in str(raised.value)


@pytest.mark.parametrize('written', ['metrics/train_loss_1.txt', 'models/last.pt'])
def test_a_rerun_without_resume_is_refused_and_the_run_left_as_it_was(written, corpus, tmp_path, capsys):
    """The same command again, without resume=, into a folder that holds a run (its metric
    lines, or its checkpoint): refused before training, naming the folder and both ways on;
    the earlier run's files are untouched."""
    folder = tmp_path / 'logs' / 'P' / 't' / 'again'
    os.makedirs(folder / os.path.dirname(written))
    (folder / written).write_text('[1]: 1.0\n')
    paths = [f"{key}={value}" for key, value in corpus.items()]
    code = main.main(paths + TINY + [f'path_log={tmp_path / "logs"}', 'name=again'])
    error = capsys.readouterr().err
    assert code == 2 and str(folder) in error and 'resume=auto' in error and 'name=' in error, error
    assert [str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file()] == [written]
    assert (folder / written).read_text() == '[1]: 1.0\n'


def test_a_repeated_demo_gets_a_numbered_folder_unless_named_or_resumed(tmp_path, capsys):
    from recipes.demo.settings import number_the_demo_run
    from utils.run_folder import training_run_dir
    args = get_args([f'path_log={tmp_path}', 'name=demo', 'tags=[demo]'])[0]
    assert number_the_demo_run(args, [])['name'] == 'demo'           # nothing there yet
    os.makedirs(os.path.join(training_run_dir(args), 'models'))
    open(os.path.join(training_run_dir(args), 'models', 'last.pt'), 'w').close()
    assert number_the_demo_run(args, [])['name'] == 'demo_2'
    assert 'the earlier demo run stays in' in capsys.readouterr().out
    assert number_the_demo_run(args, ['name=demo'])['name'] == 'demo'
    assert number_the_demo_run(dict(args, resume='auto'), [])['name'] == 'demo'


def test_an_unreachable_neptune_leaves_the_local_logger(tmp_path, monkeypatch, capsys):
    import utils.experiment_logger as module
    from utils.local_logger import LocalLogger

    def unreachable(*args, **kwargs):
        raise ConnectionError('neptune.ai unreachable')

    monkeypatch.setattr(module, 'NeptuneLogger', unreachable)
    args = get_args([f'path_log={tmp_path}', 'neptune_user=me', 'neptune_token=tok'])[0]
    logger = module.build_logger(args)
    assert [type(each) for each in logger.loggers] == [LocalLogger]
    assert 'neptune.ai unreachable' in capsys.readouterr().err


@pytest.mark.parametrize('command_line_token', [None, 'another-token-0123'])
def test_a_token_typed_into_arguments_py_is_redacted_in_the_source_copy(command_line_token, tmp_path,
                                                                          monkeypatch):
    """arguments.py says to edit its values: a token typed there is a default of the run,
    overridden on the command line or not, and never reaches scripts/ (nor the override)."""
    import arguments
    from utils.config import defaults
    from utils.local_logger import LocalLogger
    from utils.secrets import secret_values
    token = 'typed-into-arguments-py-4567'
    source = tmp_path / 'repo'
    source.mkdir()
    with open(os.path.join(REPO, 'arguments.py')) as handle:
        text = handle.read()
    edited = text.replace("'neptune_token'     : Key('',", f"'neptune_token'     : Key('{token}',")
    assert edited != text
    (source / 'arguments.py').write_text(edited)
    monkeypatch.setitem(arguments.SYSTEM, 'neptune_token', arguments.SYSTEM['neptune_token']._replace(default=token))
    overrides = [f'neptune_token={command_line_token}'] if command_line_token else []
    args = get_args([f'path_log={tmp_path}'] + overrides)[0]
    LocalLogger(str(tmp_path / 'run')).copy_source(str(source), secret_values(args, defaults(arguments.SYSTEM)))
    copied = (tmp_path / 'run' / 'scripts' / 'arguments.py').read_text()
    assert token not in copied and "'neptune_token'     : Key('<redacted>'," in copied
    assert copied.replace('<redacted>', token) == edited            # nothing else changed
    if command_line_token:
        assert command_line_token not in copied


def test_a_byte_order_mark_is_dropped_and_a_latin1_score_file_named(tmp_path):
    from evaluation.score_files import ScoreFileError, read_scores
    marked = tmp_path / 'marked.txt'
    marked.write_bytes('LA_E_1000000 0.5\nLA_E_1000001 -1.5\n'.encode('utf-8-sig'))
    assert read_scores(str(marked)) == {'LA_E_1000000': 0.5, 'LA_E_1000001': -1.5}
    latin1 = tmp_path / 'latin1.txt'
    latin1.write_bytes('LA_E_1000000 0.5\nLA_E_caf\u00e9 -1.5\n'.encode('latin-1'))
    with pytest.raises(ScoreFileError, match=f"{latin1}:2: byte 0xe9 at column 9 is not UTF-8"):
        read_scores(str(latin1))


def test_an_overridden_learning_rate_reaches_the_restored_optimiser_and_schedule():
    """resume_override=lr,T_0 after 3 epochs at lr 0.001: the learning rate from then on is
    the schedule's of a run started with lr 0.01 and T_0=4, epoch by epoch."""
    from trainer.build import build_optimizer
    from trainer.resume_check import apply_optimiser_overrides
    old = get_args(TINY + ['lr=0.001', 'T_0=8'])[0]
    new = get_args(TINY + ['lr=0.01', 'T_0=4', 'resume_override=lr,T_0'])[0]
    model = torch.nn.Linear(2, 1)
    resumed, resumed_schedule = build_optimizer(old, model)
    fresh, fresh_schedule = build_optimizer(new, model)
    for _ in range(3):
        for optimizer, schedule in ((resumed, resumed_schedule), (fresh, fresh_schedule)):
            optimizer.step()
            schedule.step()
    assert apply_optimiser_overrides(resumed, resumed_schedule, old, new) == ['lr', 'T_0']
    for _ in range(6):
        assert resumed.param_groups[0]['lr'] == pytest.approx(fresh.param_groups[0]['lr'], rel=1e-12)
        resumed_schedule.step()
        fresh_schedule.step()


def test_each_resumed_segment_keeps_its_own_parameters_file(tmp_path):
    from utils.local_logger import LocalLogger
    for batch_size in (16, 8, 4):
        LocalLogger(str(tmp_path / 'run')).log_parameters({'batch_size': batch_size})
    assert [(tmp_path / 'run' / name).read_text() for name in
            ('parameters.txt', 'parameters_2.txt', 'parameters_3.txt')] == [
        'batch_size: 16\n', 'batch_size: 8\n', 'batch_size: 4\n']


def test_a_full_disk_is_named_and_the_previous_checkpoint_stays(tmp_path, monkeypatch):
    import collections
    import utils.atomic as atomic
    path = str(tmp_path / 'models' / 'last.pt')
    atomic_torch_save({'epoch': 1}, path)

    def fill_the_disk(obj, target):
        with open(target, 'wb') as handle:
            handle.write(b'PK half')
        raise RuntimeError('[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file '
                           'data/3: file write failed')

    monkeypatch.setattr(torch, 'save', fill_the_disk)
    monkeypatch.setattr(atomic.shutil, 'disk_usage', lambda folder: collections.namedtuple(
        'usage', 'total used free')(10 * 2 ** 30, 10 * 2 ** 30 - 2 ** 20, 2 ** 20))
    with pytest.raises(atomic.WriteFailed) as failure:
        atomic_torch_save({'epoch': 2}, path)
    message = str(failure.value)
    assert f"{path} could not be written: the disk is full (1 MiB free" in message
    assert 'PytorchStreamWriter failed writing file' in message and 'the previous last.pt is intact' in message
    monkeypatch.undo()
    assert torch.load(path)['epoch'] == 1
    assert os.listdir(tmp_path / 'models') == ['last.pt']


def test_temporaries_of_killed_processes_are_removed_and_a_live_ones_kept(tmp_path):
    from utils.atomic import remove_stale_temporaries
    finished = subprocess.Popen([sys.executable, '-c', 'pass'])
    finished.wait()
    stale, live = tmp_path / f'last.tmp{finished.pid}.pt', tmp_path / f'last.tmp{os.getpid()}.pt'
    for path in (stale, live, tmp_path / 'last.pt', tmp_path / 'epoch_1.pt'):
        path.write_bytes(b'x')
    assert remove_stale_temporaries(str(tmp_path)) == [str(stale)]
    assert sorted(os.listdir(tmp_path)) == sorted(['epoch_1.pt', 'last.pt', live.name])


def test_a_silent_neptune_server_delays_the_start_by_neptune_timeout_only(tmp_path, monkeypatch, capsys):
    import neptune
    import utils.experiment_logger as module
    from utils.local_logger import LocalLogger
    silent = threading.Event()                                      # a server that never answers
    monkeypatch.setattr(neptune, 'init_run', lambda **keywords: silent.wait())
    args = get_args([f'path_log={tmp_path}', 'neptune_user=me', 'neptune_token=tok', 'neptune_timeout=0.5'])[0]
    started = time.monotonic()
    logger = module.build_logger(args)
    assert time.monotonic() - started < 5
    assert [type(each) for each in logger.loggers] == [LocalLogger]
    error = capsys.readouterr().err
    assert 'no answer within neptune_timeout=0.5 s' in error and 'continuing with the local logger' in error


@pytest.mark.slow
def test_sigint_finishes_the_step_saves_and_exits_cleanly(demo_corpus, tmp_path):
    repo = REPO
    overrides = [f"{key}={value}" for key, value in demo_corpus.items()] + TINY + [
        f'path_log={tmp_path}', 'name=signal', 'epoch=3', 'path_21LA=None', 'path_21DF=None', 'eval_from_epoch=5']
    process = subprocess.Popen([sys.executable, os.path.join(repo, 'main.py'), *overrides], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    losses = tmp_path / 'P' / 't' / 'signal' / 'metrics' / 'train_loss_1.txt'
    deadline = time.time() + 120
    while time.time() < deadline and (not losses.exists() or len(losses.read_text().splitlines()) < 3):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert 'resume with resume=auto' in output
    state = load_checkpoint(str(tmp_path / 'P' / 't' / 'signal' / 'models' / 'last.pt'))
    steps = len(losses.read_text().splitlines())
    assert state['global_step'] == steps and 0 < steps < 3 * 20


@pytest.mark.slow
def test_sigterm_during_an_evaluation_stops_between_batches_and_resume_redoes_it(demo_corpus, tiny_run, tmp_path,
                                                                                 monkeypatch, capsys):
    """SIGTERM in the 2nd set of epoch 1's evaluation: the run stops after the current batch
    (no further set, no further step) with last.pt holding epoch 1; resume=auto evaluates
    epoch 1 again, each metric once, with the scores of the uninterrupted run (tiny_run)."""
    import trainer.trainer as module
    original, batches = module.score_trials, []

    def sigterm_in_the_second_set(*arguments, should_stop, **keywords):
        def stop():
            batches.append(keywords.get('desc', arguments[6] if len(arguments) > 6 else ''))
            if len(batches) == 12:          # the dev set has 10 batches of 16; this is 19LA's 2nd
                os.kill(os.getpid(), signal.SIGTERM)
            return should_stop()
        return original(*arguments, should_stop=stop, **keywords)

    monkeypatch.setattr(module, 'score_trials', sigterm_in_the_second_set)
    args = tiny_args(demo_corpus, tmp_path, 'name=stop', 'epoch=1', 'path_21DF=None')
    stopped = Trainer(args)
    stopped.run()
    output = capsys.readouterr().out
    assert 'stopped during the evaluation of epoch 1 (eval 19LA)' in output and len(batches) == 12
    state = load_checkpoint(os.path.join(stopped.run_dir, 'models', 'last.pt'))
    assert state['epoch'] == 1 and state['records'] == [] and state['step_in_epoch'] == 0
    assert not os.path.exists(os.path.join(stopped.run_dir, 'models', 'epoch_1.pt'))
    monkeypatch.setattr(module, 'score_trials', original)
    resumed = Trainer({**args, 'resume': 'auto'})
    resumed.run()
    assert 'the evaluation of epoch 1 did not complete: evaluating it now' in capsys.readouterr().out
    run_dir = resumed.run_dir
    for name in ('eval_19LA_dev_eer.txt', 'eval_19LA_eer.txt', 'eval_21LA_eer.txt', 'eval_calibration_scale.txt'):
        assert metric_steps(run_dir, name) == [1], name
    assert os.path.isfile(os.path.join(run_dir, 'models', 'epoch_1.pt'))
    for name in ('19LA', '21LA'):
        expected = np.loadtxt(os.path.join(tiny_run, 'scores', f'{name}_epoch1.txt'), usecols=1)
        redone = np.loadtxt(os.path.join(run_dir, 'scores', f'{name}_epoch1.txt'), usecols=1)
        assert np.allclose(redone, expected, rtol=0, atol=2e-6)


@pytest.mark.slow
def test_resume_after_a_hard_kill_leaves_no_duplicate_metric_lines(demo_corpus, tmp_path, monkeypatch):
    """Everything logged after the last checkpoint (as after kill -9) is replayed once."""
    args = tiny_args(demo_corpus, tmp_path, 'name=killed', 'epoch=2', 'path_21LA=None', 'path_21DF=None')
    trainer = Trainer(args)
    original_save, kept = trainer.save_last, {}

    def save_and_keep_epoch_one():
        original_save()
        if trainer.epoch == 1 and not kept:
            kept['state'] = trainer.last_path + '.epoch1'
            shutil.copy(trainer.last_path, kept['state'])

    monkeypatch.setattr(trainer, 'save_last', save_and_keep_epoch_one)
    trainer.run()
    os.replace(kept['state'], trainer.last_path)  # the process died during epoch 2
    resumed = Trainer(tiny_args(demo_corpus, tmp_path, 'name=killed', 'epoch=2', 'resume=auto', 'path_21LA=None', 'path_21DF=None'))
    resumed.run()
    steps = metric_steps(resumed.run_dir, 'train_loss_1.txt')
    assert steps == list(range(1, resumed.global_step + 1))
    assert metric_steps(resumed.run_dir, 'train_lr.txt') == [1, 2]
    assert metric_steps(resumed.run_dir, 'eval_19LA_eer.txt') == [1, 2]


def test_the_fast_flac_header_reader_agrees_with_libsndfile(tmp_path):
    from data.validation import flac_frames
    import glob
    from tests.helpers import FIXTURES
    files = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))
    assert len(files) == 3
    for path in files:
        assert flac_frames(path) == sf.info(path).frames
    stereo = str(tmp_path / 'stereo.flac')
    sf.write(stereo, np.zeros((44_101, 2)), 44_100, format='FLAC')
    assert flac_frames(stereo) == 44_101
    broken = tmp_path / 'broken.flac'
    broken.write_bytes(b'fLaC' + bytes([1, 0, 0, 34]) + bytes(40))  # not a STREAMINFO block first
    assert flac_frames(str(broken)) is None


@pytest.mark.slow
def test_resume_auto_without_a_checkpoint_starts_afresh_and_sets_the_old_lines_aside(demo_corpus, tmp_path,
                                                                                     capsys):
    """A run killed before its first checkpoint left metric lines of steps 1-6: resume=auto has
    nothing to resume, so it starts at step 1 in a clean folder, the old lines moved aside."""
    args = tiny_args(demo_corpus, tmp_path, 'name=early', 'epoch=1', 'path_21LA=None', 'path_21DF=None')
    folder = tmp_path / 'P' / 't' / 'early'
    os.makedirs(folder / 'metrics')
    old_lines = ''.join(f'[{step}] train/loss_1: 9.0\n' for step in range(1, 7))
    (folder / 'metrics' / 'train_loss_1.txt').write_text(old_lines)
    (folder / 'parameters.txt').write_text("lr: 0.5\n")
    run = Trainer({**args, 'resume': 'auto'})
    run.run()
    assert f'the earlier run\'s files were moved to {folder / "interrupted_1"}' in capsys.readouterr().out
    steps = metric_steps(str(folder), 'train_loss_1.txt')
    assert steps == list(range(1, run.global_step + 1))
    assert (folder / 'interrupted_1' / 'metrics' / 'train_loss_1.txt').read_text() == old_lines
    assert (folder / 'interrupted_1' / 'parameters.txt').read_text() == "lr: 0.5\n"
    assert not (folder / 'parameters_2.txt').exists()


def test_an_unreadable_training_file_counts_against_the_whole_set_not_its_class(tmp_path, capsys):
    """One bad bona fide file among 60 bona fide and 240 spoof files is 0.3 % of the set: skipped and
    named, never an abort (counted per class it was 1.7 %)."""
    from data.datasets import UnreadableFiles
    bad = tmp_path / 'bad.flac'
    bad.write_bytes(b'not audio')
    bona = [Trial(f'b{i}', FIXTURE_AUDIO, 1, 'bonafide') for i in range(59)] + [Trial('bad', str(bad), 1, 'bonafide')]
    spoof = [Trial(f's{i}', str(tmp_path / f's{i}.flac'), 0, 'A01') for i in range(240)]
    shared = UnreadableFiles([t.path for t in bona] + [t.path for t in spoof])
    dataset = TwoViewDataset(bona, 4000, 2000, unreadable=shared)
    assert dataset[59][0].shape == (4000,) and shared.count.value == 1
    assert 'bad.flac' in capsys.readouterr().err


@pytest.mark.slow
def test_an_unreadable_evaluation_file_stops_the_run_with_one_clear_line(corpus, tmp_path, capsys):
    """A valid header over a corrupt body passes the header check; when the evaluation meets it
    the run stops (exit 1) naming the file, the epoch last.pt holds and what to do, without a
    traceback."""
    path, _ = _first_eval_audio(corpus)
    wave = 0.1 * np.random.default_rng(0).standard_normal(16_000)
    wave[100] = np.nan
    os.remove(path)
    sf.write(path, wave, 16_000, format='WAV', subtype='FLOAT')
    paths = [f"{key}={value}" for key, value in corpus.items()]
    code = main.main(paths + TINY + [f'path_log={tmp_path / "logs"}', 'name=evalfail', 'epoch=1',
                                     'path_21LA=None', 'path_21DF=None', 'num_workers=1'])
    error = capsys.readouterr().err
    assert code == 1, error
    assert path in error and 'non-finite sample' in error and 'models/last.pt holds epoch 1' in error
    assert 'resume=auto evaluates the epoch again' in error and 'Traceback' not in error
