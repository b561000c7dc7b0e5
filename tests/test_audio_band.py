"""lfcc_band=auto (issue 36): the band the audio occupies, read from its long-term spectrum,
is the band of band-limited real speech within a filter's width and the full band of the
unfiltered speech, whatever a few full-band files or a noise floor add; a model trained with
it scores a file the same through TEST=True, tools.infer and the exported ONNX model."""
import contextlib
import glob
import io
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from data.audio_band import band_edges, long_term_spectrum, file_spectrum, measure_band, wave_band
from tests.helpers import FIXTURES

RATE = 16_000
FILTER_WIDTH = 2 * (RATE / 2) / 41       # a triangle of the default 40-filter bank spans two spacings: 390 Hz
UTTERANCES = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))


def _telephone(wave, low=300, high=3400):
    """8th-order Butterworth band-pass, forward and backward (the telephone benchmark's channel)."""
    return signal.sosfiltfilt(signal.butter(8, [low, high], 'bandpass', fs=RATE, output='sos'), wave)


def _speech():
    return [sf.read(path)[0] for path in UTTERANCES]


def _write(folder, waves, prefix):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for index, wave in enumerate(waves):
        paths.append(os.path.join(folder, f'{prefix}{index}.wav'))
        sf.write(paths[-1], wave, RATE, subtype='FLOAT')
    return paths


@pytest.mark.parametrize('index', range(3))
def test_a_band_limited_utterance_gives_its_band_and_the_original_the_full_band(index):
    wave = _speech()[index]
    assert wave_band(wave, RATE).f_min == 0.0 and wave_band(wave, RATE).f_max is None
    band = wave_band(_telephone(wave), RATE)
    assert abs(band.f_min - 300) < FILTER_WIDTH and abs(band.f_max - 3400) < FILTER_WIDTH, band


def test_the_band_of_a_set_is_its_own_despite_a_few_full_band_files_and_a_noise_floor(tmp_path):
    rng = np.random.default_rng(0)
    waves = []
    for repeat in range(7):
        for wave in _speech():
            limited = _telephone(np.roll(wave, 1000 * repeat))
            waves.append(limited + 10 ** (-55 / 20) * np.std(limited) * rng.standard_normal(len(limited)))
    full_band = _speech()                                     # 3 of 24 files fill the whole band
    band = measure_band(_write(tmp_path / 'set', waves, 't') + _write(tmp_path / 'set', full_band, 'f'), RATE)
    assert band.files == 24
    assert abs(band.f_min - 300) < FILTER_WIDTH and abs(band.f_max - 3400) < FILTER_WIDTH, band
    assert measure_band(_write(tmp_path / 'full', full_band, 'f'), RATE).f_max is None


def test_the_edges_fall_where_the_spectrum_crosses_25_db_below_its_reference():
    """A flat spectrum at 0 dB over 1-3 kHz and -60 dB elsewhere, in the 257 bins of 0-8 kHz: the
    edges lie between the last bin in the band and the first bin out of it."""
    frequencies = np.linspace(0, RATE / 2, 257)
    level = np.where((frequencies >= 1000) & (frequencies <= 3000), 0.0, -60.0)
    f_min, f_max = band_edges(level, RATE)
    assert 968.75 < f_min < 1000 and 3000 < f_max < 3031.25
    assert band_edges(np.zeros(257), RATE) == (0.0, None)
    assert file_spectrum(np.zeros(16_000), RATE) is None and file_spectrum(np.ones(100), RATE) is None
    assert long_term_spectrum([np.full(257, 1 / 257)] * 2).shape == (257,)


@pytest.mark.slow
def test_a_model_trained_on_a_measured_band_scores_alike_in_test_infer_and_onnx(demo_corpus, tmp_path, capsys):
    """The demo corpus's training audio band-limited to 300-3400 Hz: lfcc_band=auto measures the
    band, the checkpoint stores it, and TEST=True (under the default lfcc_band=full), tools.infer
    and the exported ONNX model score an evaluation file alike; infer notes that a full-band file
    differs from the trained band."""
    import onnxruntime

    import main
    from data.views import crop_samples, make_view
    from tests.helpers import TINY
    from tools import export, infer
    from utils.checkpoint_file import load_checkpoint
    corpus = {key: str(tmp_path / 'corpus' / os.path.basename(root)) for key, root in demo_corpus.items()}
    for key, root in demo_corpus.items():
        shutil.copytree(root, corpus[key], ignore=shutil.ignore_patterns('vocoder'))
    for path in glob.glob(os.path.join(corpus['path_19LA'], 'LA', '*', 'flac', '*.flac')):
        wave, rate = sf.read(path)
        sf.write(path, _telephone(wave), rate, format='FLAC')
    common = [f"{key}={value}" for key, value in corpus.items()] + TINY + [
        f'path_log={tmp_path / "logs"}', 'path_21LA=None', 'path_21DF=None', 'epoch=1']
    assert main.main(common + ['name=band', 'lfcc_band=auto']) == 0
    printed = capsys.readouterr().out
    assert 'lfcc_band=auto: the training audio occupies' in printed
    checkpoint = str(tmp_path / 'logs' / 'P' / 't' / 'band' / 'models' / 'selected.pt')
    saved = load_checkpoint(checkpoint)['args']
    assert saved['lfcc_band'] == 'auto'     # the generated audio keeps more of its highs past the filter than speech
    assert 150 < saved['lfcc_f_min'] < 400 and 3400 < saved['lfcc_f_max'] < 4000

    assert main.main(common + ['TEST=True', f'checkpoint={checkpoint}']) == 0
    assert f"lfcc_f_max={saved['lfcc_f_max']}" in capsys.readouterr().out
    test_run = glob.glob(str(tmp_path / 'logs' / 'P' / 't' / 'test_band_selected*'))[0]
    tested = dict(np.loadtxt(os.path.join(test_run, 'scores', '19LA_epoch1.txt'), dtype=str, usecols=(0, 1)))
    folder = os.path.join(corpus['path_19LA'], 'LA', 'ASVspoof2019_LA_eval', 'flac')
    name = sorted(os.listdir(folder))[0]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert infer.main(['--checkpoint', checkpoint, os.path.join(folder, name), '--json']) == 0
    inferred = json.loads(output.getvalue())['results'][0]
    assert inferred['score'] == pytest.approx(float(tested[name[:-len('.flac')]]), abs=1e-5)
    assert 'band_note' not in inferred

    assert export.main(['--checkpoint', checkpoint, '--format', 'onnx', '--out', str(tmp_path / 'm.onnx')]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / 'm.onnx'), providers=['CPUExecutionProvider'])
    crop = crop_samples(saved['num_test_frames'], saved['hop'])
    wave = make_view(sf.read(os.path.join(folder, name))[0], crop, False, None)[None].astype(np.float32)
    assert session.run(None, {'wave': wave})[0][0] == pytest.approx(inferred['score'], abs=1e-4)

    full_band = str(tmp_path / 'full_band.flac')
    sf.write(full_band, sf.read(UTTERANCES[0])[0], RATE)
    capsys.readouterr()
    assert infer.main(['--checkpoint', checkpoint, full_band]) == 0
    assert 'the file occupies 0-8000 Hz, the model was trained on audio of' in capsys.readouterr().err
