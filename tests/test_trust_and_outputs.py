"""Trust what you load, keep what you write (issue 37): a checkpoint carrying a pickle payload is
refused by every loader and its payload never runs; every checkpoint this project writes loads
with torch's own weights-only loader; no tool writes over what it reads; averaging refuses
models trained with other settings."""
import contextlib
import io
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

import main
from arguments import get_args
from tests.helpers import FIXTURES, TINY
from tools import average_checkpoints, export, export_release, import_release, infer, score_file, serve
from trainer.build import build_detector
from trainer.checkpoint import restore_rng_states, rng_states
from utils.atomic import atomic_torch_save
from utils.checkpoint_file import load_checkpoint

AUDIO = os.path.join(FIXTURES, 'asvspoof2019_la', 'LA_T_1272637.flac')


class Payload:
    """Unpickling this calls open(marker, 'w'): the file appears only if the pickle's code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, 'w')


def _payload_checkpoint(path, marker, **extra):
    args = get_args(TINY)[0]
    torch.save({'model': build_detector(args).state_dict(), 'args': args, 'epoch': 1, 'threshold': 0.0,
                'rng': rng_states(), 'optimizer': {}, 'scheduler': {}, 'note': Payload(marker), **extra}, str(path))
    return str(path)


def _digest(path):
    with open(path, 'rb') as handle:
        return handle.read()


def test_a_payload_checkpoint_is_refused_by_every_tool_and_never_runs(tmp_path, capsys):
    marker = tmp_path / 'payload_ran'
    checkpoint = _payload_checkpoint(tmp_path / 'evil.pt', marker)
    release = tmp_path / 'release'
    release.mkdir()
    _payload_checkpoint(release / 'model.pt', marker)
    calls = {
        'infer': lambda: infer.main(['--checkpoint', checkpoint, AUDIO]),
        'infer, a release folder': lambda: infer.main(['--checkpoint', str(release), AUDIO]),
        'export': lambda: export.main(['--checkpoint', checkpoint, '--format', 'onnx',
                                       '--out', str(tmp_path / 'm.onnx')]),
        'average_checkpoints': lambda: average_checkpoints.main([checkpoint, checkpoint,
                                                                 '--out', str(tmp_path / 'mean.pt')]),
        'serve': lambda: serve.main(['--checkpoint', checkpoint, '--port', '0']),
    }
    for name, call in calls.items():
        assert call() == 2, name
        error = capsys.readouterr().err
        assert 'refuses' in error and 'trust' in error and 'io.open' in error, (name, error)
        assert not marker.exists(), name
    assert not (tmp_path / 'm.onnx').exists() and not (tmp_path / 'mean.pt').exists()
    # trusted on purpose: the full unpickler runs it (the switch does what it says)
    load_checkpoint(checkpoint, trust=True)
    assert marker.exists()


def test_a_payload_checkpoint_is_refused_by_main_for_test_and_resume(demo_corpus, tmp_path, capsys):
    marker = tmp_path / 'payload_ran'
    checkpoint = _payload_checkpoint(tmp_path / 'evil.pt', marker)
    common = [f"{key}={value}" for key, value in demo_corpus.items()] + TINY + [f'path_log={tmp_path / "logs"}']
    for overrides in (['TEST=True', f'checkpoint={checkpoint}'], [f'resume={checkpoint}', 'name=resumed']):
        assert main.main(common + overrides) == 2
        error = capsys.readouterr().err
        assert f'checkpoint {checkpoint} holds objects that a weights-only load refuses' in error, error
        assert 'trust_checkpoint=True' in error and not marker.exists()


def test_payloads_in_released_weights_are_refused_by_the_importers(tmp_path, capsys):
    marker = tmp_path / 'payload_ran'
    torch.save({'encoder.0.weight': torch.zeros(1), 'x': Payload(marker)}, str(tmp_path / 'AASIST.pth'))
    assert import_release.main(['--release', str(tmp_path / 'AASIST.pth'), '--out', str(tmp_path / 'out.pt'),
                                'backbone=aasist', 'loss_weight=[1.0]']) == 2
    assert 'weights-only load refuses' in capsys.readouterr().err and not marker.exists()
    from models.release import ReleaseLoadError, load_hm_conformer_release
    detector = build_detector(get_args(TINY)[0])
    for part in ('frontend', *[f'backend{k}' for k in range(5)], *[f'loss{k}' for k in range(5)]):
        torch.save({'x': Payload(marker)}, str(tmp_path / f'check_point_DF_{part}_20.pt'))
    with pytest.raises(ReleaseLoadError, match='weights-only load refuses'):
        load_hm_conformer_release(detector, str(tmp_path))
    assert not marker.exists()


def test_every_checkpoint_a_run_writes_loads_with_torchs_weights_only_loader(tiny_run, tmp_path):
    """torch.load(weights_only=True) with nothing allowed beyond torch's own list: last.pt (its
    optimiser, schedule and every generator's state), the evaluated, selected and averaged models,
    and an imported release; a release holds no pickle at all."""
    models = os.path.join(tiny_run, 'models')
    paths = [os.path.join(models, name) for name in sorted(os.listdir(models))]
    assert {'last.pt', 'epoch_1.pt', 'selected.pt'} <= set(map(os.path.basename, paths))
    assert average_checkpoints.main([paths[0], paths[0], '--out', str(tmp_path / 'mean.pt')]) == 0
    assert export_release.main([tiny_run, '--out', str(tmp_path / 'release')]) == 0
    assert import_release.main(['--release', os.path.join(FIXTURES, 'aasist', 'AASIST-L.pth'),
                                '--out', str(tmp_path / 'aasist.pt'), 'backbone=aasist', 'loss_weight=[1.0]',
                                'aasist_channels=[32,32,24,24]', 'aasist_gat_dims=[24,32]',
                                'aasist_pool_ratios=[0.4,0.5,0.7]']) == 0
    for path in paths + [str(tmp_path / 'mean.pt'), str(tmp_path / 'aasist.pt')]:
        state = torch.load(path, map_location='cpu', weights_only=True)
        assert 'model' in state, path
    assert sorted(os.listdir(tmp_path / 'release')) == ['README.md', 'config.json', 'model.safetensors',
                                                         'results.json', 'scores']   # no pickle in a release
    last = torch.load(os.path.join(models, 'last.pt'), weights_only=True)
    assert {'optimizer', 'scheduler', 'rng'} <= set(last)


def test_a_checkpoint_written_before_the_change_loads_and_restores_numpys_generator(tmp_path):
    """Earlier last.pt files hold np.random.get_state() as a NumPy array: they still load
    weights-only (exactly NumPy's array classes are allowed) and restore the same stream."""
    np.random.seed(7)
    old_state = np.random.get_state()
    expected = np.random.rand(3)
    torch.save({'model': {}, 'rng': {'torch': torch.get_rng_state(), 'numpy': old_state,
                                      'python': __import__('random').getstate()}}, str(tmp_path / 'old.pt'))
    state = load_checkpoint(str(tmp_path / 'old.pt'), ('model', 'rng'))
    restore_rng_states(state['rng'])
    assert np.array_equal(np.random.rand(3), expected)
    np.random.seed(7)
    new_state = rng_states()
    restore_rng_states(new_state)
    assert np.array_equal(np.random.rand(3), expected)


def _checkpoint(tmp_path, name='model.pt', *overrides):
    args = get_args(TINY + list(overrides))[0]
    torch.manual_seed(0)
    path = str(tmp_path / name)
    atomic_torch_save({'model': build_detector(args).state_dict(), 'args': args, 'epoch': 1, 'threshold': 0.0},
                      path)
    return path


def test_no_tool_writes_over_what_it_reads(tiny_run, tmp_path, capsys):
    checkpoint = _checkpoint(tmp_path)
    other = _checkpoint(tmp_path, 'other.pt')
    audio = str(tmp_path / 'take.flac')
    sf.write(audio, sf.read(AUDIO)[0], 16_000)
    protocol, scores = tmp_path / 'key.txt', tmp_path / 'scores.txt'
    protocol.write_text('LA_0009 LA_E_1 alaw ita_tx A07 spoof notrim eval\nLA_0009 LA_E_2 alaw ita_tx - bonafide '
                        'notrim eval\n')
    scores.write_text('LA_E_1 0.1\nLA_E_2 0.9\n')
    originals = {path: _digest(path) for path in (checkpoint, other, audio, str(scores))}
    cases = [
        (lambda: export.main(['--checkpoint', checkpoint, '--format', 'onnx', '--out', checkpoint]), 2),
        (lambda: average_checkpoints.main([checkpoint, other, '--out', other]), 2),
        (lambda: import_release.main(['--release', checkpoint, '--out', checkpoint]), 2),
        (lambda: infer.main(['--checkpoint', checkpoint, audio, '--segments', '--tsv', audio,
                             '--timeline', str(tmp_path / 'timelines')]), 2),
        (lambda: score_file.main(['--protocol', str(protocol), '--scores', str(scores), '--tsv', str(scores)]), 1),
    ]
    for call, code in cases:
        assert call() == code
        error = capsys.readouterr().err
        assert 'a tool never writes over what it reads' in error, error
    assert {path: _digest(path) for path in originals} == originals
    assert not (tmp_path / 'timelines').exists()

    as_file = tmp_path / 'release_file'
    as_file.write_text('a file, not a folder')
    assert export_release.main([tiny_run, '--out', str(as_file)]) == 2
    assert 'is a file; give a folder' in capsys.readouterr().err and as_file.read_text() == 'a file, not a folder'


def test_an_output_that_cannot_be_written_is_named_before_any_work(tmp_path, capsys):
    checkpoint = _checkpoint(tmp_path)
    assert export.main(['--checkpoint', checkpoint, '--format', 'onnx', '--out', '/proc/ebm/m.onnx']) == 2
    error = capsys.readouterr().err
    assert '--out /proc/ebm/m.onnx cannot be written' in error and 'disk is full' not in error


def test_a_read_only_folder_is_not_called_a_full_disk(tmp_path, monkeypatch):
    import errno

    from utils.atomic import WriteFailed, atomic_write

    def refuse(temporary):
        raise OSError(errno.EROFS, 'Read-only file system', temporary)
    with pytest.raises(WriteFailed, match='not writable') as error:
        atomic_write(str(tmp_path / 'out.bin'), refuse)
    assert 'disk is full' not in str(error.value)


def test_averaging_refuses_other_settings_names_them_and_takes_them_only_when_allowed(tmp_path, capsys):
    first = _checkpoint(tmp_path, 'a.pt')
    other_band = _checkpoint(tmp_path, 'b.pt', 'lfcc_f_max=3400')
    other_seed = _checkpoint(tmp_path, 'c.pt', 'rand_seed=2', 'name=another')
    out = str(tmp_path / 'mean.pt')
    assert average_checkpoints.main([first, other_band, '--out', out]) == 2
    error = capsys.readouterr().err
    assert 'lfcc_f_max: None (a.pt), 3400.0 (b.pt)' in error and '--allow-different lfcc_f_max' in error
    assert not os.path.exists(out)
    assert average_checkpoints.main([first, other_seed, '--out', out]) == 0          # seeds average
    assert average_checkpoints.main([first, other_band, '--out', out, '--allow-different', 'lfcc_f_max']) == 0
    assert load_checkpoint(out)['args']['lfcc_f_max'] == 3400.0


@pytest.mark.parametrize('name', ['price_$5_to_$10.flac', 'a^b_c<d>"e\'f.flac', 'grüße_ñandú.flac'])
def test_any_file_name_is_shown_and_written_as_it_is(name, tmp_path, capsys):
    import csv
    checkpoint = _checkpoint(tmp_path)
    path = str(tmp_path / name)
    sf.write(path, sf.read(AUDIO)[0], 16_000)
    tsv = str(tmp_path / 'windows.tsv')
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert infer.main(['--checkpoint', checkpoint, path, '--segments', '--json', '--tsv', tsv,
                           '--timeline', str(tmp_path / 'timelines')]) == 0
    result = json.loads(output.getvalue())['results'][0]
    assert result['path'] == path and os.path.isfile(result['timeline'])
    assert os.path.basename(result['timeline']) == os.path.splitext(name)[0] + '_timeline.png'
    with open(tsv, newline='', encoding='utf-8') as handle:
        rows = list(csv.reader(handle, delimiter='\t'))
    assert rows[0][0] == 'path' and {row[0] for row in rows[1:]} == {path}


def test_files_of_the_same_name_in_different_folders_get_their_own_timelines(tmp_path):
    checkpoint = _checkpoint(tmp_path)
    paths = []
    for folder, gain in (('a', 1.0), ('b', 0.3)):
        os.makedirs(tmp_path / folder)
        paths.append(str(tmp_path / folder / 'take.wav'))
        sf.write(paths[-1], gain * sf.read(AUDIO)[0], 16_000)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert infer.main(['--checkpoint', checkpoint, *paths, '--segments', '--json',
                           '--timeline', str(tmp_path / 'timelines')]) == 0
    images = [result['timeline'] for result in json.loads(output.getvalue())['results']]
    assert len(set(images)) == 2 and all(os.path.isfile(image) for image in images)
    assert all(os.path.basename(image).startswith('take-') for image in images)
    assert _digest(images[0]) != _digest(images[1])


def test_a_long_file_is_scored_without_holding_all_its_windows(tmp_path):
    """Ten minutes in 4 s windows every second: all 597 windows at once would take 308 MB; the
    batches of 32 keep the peak far below (tracemalloc sees NumPy's allocations)."""
    import tracemalloc

    from evaluation.segments import score_windows
    rate, crop = 16_000, 64_600
    wave = np.zeros(600 * rate)
    sizes = []

    def score(batch):
        sizes.append(len(batch))
        return batch.mean(axis=1)
    tracemalloc.start()
    windows = score_windows(score, wave, rate, crop, rate, 0.0, batch_size=32)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(windows) == 597 and sum(sizes) == 597 and max(sizes) == 32
    assert peak < 60 * 2 ** 20, peak
