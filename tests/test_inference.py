"""inference.Detector (issue 33, item 3): one API over a checkpoint, a release folder (a Hugging
Face model folder) and a release written before that format; its decisions are the stored
threshold's and calibration's."""
import json
import os

import numpy as np
import pytest
import torch

from data.audio import read_audio
from inference import Decision, DecisionError, Detector
from tests.helpers import FIXTURES
from tools import export_release
from utils.checkpoint_file import load_checkpoint

FILES = sorted(os.path.join(FIXTURES, 'asvspoof2019_la', name)
               for name in os.listdir(os.path.join(FIXTURES, 'asvspoof2019_la')) if name.endswith('.flac'))


@pytest.fixture(scope='module')
def release(tiny_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('release') / 'release')
    assert export_release.main([tiny_run, '--out', out]) == 0
    return out


def _scores(detector):
    return [detector.score(path) for path in FILES]


def test_a_release_folder_scores_and_decides_as_its_checkpoint(tiny_run, release):
    selected = Detector.from_pretrained(os.path.join(tiny_run, 'models', 'selected.pt'))
    folder = Detector.from_pretrained(release)
    assert _scores(folder) == _scores(selected)
    assert folder.threshold == selected.threshold is not None
    assert folder.state['epoch'] == selected.state['epoch'] == 1
    assert folder.calibration.scale == selected.calibration.scale
    for path in FILES:
        decision = folder.decide(path)
        assert isinstance(decision, Decision)
        assert decision.decision == ('bonafide' if decision.score > folder.threshold else 'spoof')
        assert decision.llr == pytest.approx(folder.calibration.scale * decision.score + folder.calibration.offset)


def test_a_release_written_before_the_format_change_still_loads(tiny_run, release, tmp_path):
    """Earlier releases held model.pt (a model-only checkpoint) beside config.json."""
    selected = load_checkpoint(os.path.join(tiny_run, 'models', 'selected.pt'))
    old = tmp_path / 'old_release'
    old.mkdir()
    torch.save({key: selected[key] for key in ('model', 'args', 'epoch', 'threshold', 'calibration')},
               old / 'model.pt')
    (old / 'config.json').write_text(json.dumps(selected['args']))
    assert _scores(Detector.from_pretrained(str(old))) == _scores(Detector.from_pretrained(release))


def test_score_takes_a_path_or_a_waveform_and_full_averages_the_windows(release):
    detector = Detector.from_pretrained(release)
    wave = read_audio(FILES[0], detector.sample_rate)
    assert detector.score(wave) == detector.score(FILES[0])
    windows, verdict = detector.segments(FILES[0], hop=0.5)
    starts = [int(round(window.start * detector.sample_rate)) for window in windows]
    crops = np.stack([np.resize(wave[start:start + detector.crop], detector.crop) if len(wave) < detector.crop
                      else wave[start:start + detector.crop] for start in starts])
    assert [window.score for window in windows] == pytest.approx(detector.score_batch(crops).tolist(), abs=1e-6)
    assert verdict['decision'] == min(windows, key=lambda window: window.score).decision
    with pytest.raises(ValueError, match='mono'):
        detector.score(np.zeros((2, 16000)))


def test_a_decision_without_stored_information_is_refused(tiny_run):
    last = Detector.from_pretrained(os.path.join(tiny_run, 'models', 'last.pt'))
    last.threshold, last.calibration = None, None
    with pytest.raises(DecisionError, match='no decision threshold'):
        last.decide(FILES[0])
    with pytest.raises(DecisionError, match='no usable calibration'):
        last.decide(FILES[0], rule='bayes')
    assert last.decide(FILES[0], threshold=1e9).decision == 'spoof'
