import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy import signal

from arguments import get_args
from tests.helpers import FIXTURES
from tools import infer, score_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))

PROTOCOL_2019 = ['LA_0079 LA_E_0000001 - - bonafide', 'LA_0079 LA_E_0000002 - A07 spoof',
                 'LA_0079 LA_E_0000003 - A08 spoof', 'LA_0080 LA_E_0000004 - - bonafide']


def _write(path, lines):
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _run(capsys, *argv):
    code = score_file.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_score_file_reports_eer_and_breakdown(tmp_path, capsys):
    protocol = _write(tmp_path / 'p.txt', PROTOCOL_2019)
    scores = _write(tmp_path / 's.txt', ['LA_E_0000001 0.9', 'LA_E_0000002 0.1', 'LA_E_0000003 0.95',
                                         'LA_E_0000004 0.8'])
    code, out, _ = _run(capsys, '--protocol', protocol, '--scores', scores, '--json')
    result = json.loads(out)
    assert code == 0 and result['trials'] == 4 and result['eer'] == pytest.approx(50.0)
    by_attack = {row['value']: row['eer'] for row in result['breakdown'] if row['group'] == 'attack'}
    assert by_attack == {'A07': 0.0, 'A08': pytest.approx(100.0)}


def test_score_file_reads_the_2019_cm_format(tmp_path, capsys):
    protocol = _write(tmp_path / 'p.txt', PROTOCOL_2019)
    scores = _write(tmp_path / 's.txt', ['LA_E_0000001 - bonafide 0.9', 'LA_E_0000002 A07 spoof 0.1',
                                         'LA_E_0000003 A08 spoof 0.2', 'LA_E_0000004 - bonafide 0.8'])
    code, out, _ = _run(capsys, '--protocol', protocol, '--scores', scores)
    assert code == 0 and 'EER 0.000 %' in out


@pytest.mark.parametrize('lines,message', [
    (['LA_E_0000001 0.9', 'LA_E_0000002 0.1'], '2 of 4 protocol trials have no score, e.g. LA_E_0000003, LA_E_0000004'),
    (['LA_E_0000001 0.9', 'LA_E_0000002 0.1', 'LA_E_0000003 0.2', 'LA_E_0000004 0.8', 'LA_E_9999999 0.5'],
     '1 scored ids are not in the protocol, e.g. LA_E_9999999'),
    (['LA_E_0000001 0.9', 'LA_E_0000001 0.8'], 'appear more than once, e.g. LA_E_0000001'),
    (['LA_E_0000001 high'], ":1: score 'high' is not a number"),
    (['LA_E_0000001 0.9', 'LA_E_0000002 nan'], ":2: score 'nan' is not finite"),
    (['LA_E_0000001 0.9', 'LA_E_0000002 inf'], ":2: score 'inf' is not finite"),
    (['LA_E_0000001 a b'], "expected 'utt_id score'"),
])
def test_score_file_errors(tmp_path, capsys, lines, message):
    protocol = _write(tmp_path / 'p.txt', PROTOCOL_2019)
    scores = _write(tmp_path / 's.txt', lines)
    code, _, err = _run(capsys, '--protocol', protocol, '--scores', scores)
    assert code == 1 and message in err


def test_score_file_2021_formats_and_conditions(tmp_path, capsys):
    la = _write(tmp_path / 'la.txt', ['LA_0009 LA_E_1 alaw ita_tx A07 spoof notrim eval',
                                      'LA_0009 LA_E_2 alaw ita_tx - bonafide notrim eval',
                                      'LA_0009 LA_E_3 none - - bonafide notrim progress'])
    scores = _write(tmp_path / 's.txt', ['LA_E_1 0.1', 'LA_E_2 0.9'])
    code, out, _ = _run(capsys, '--protocol', la, '--scores', scores, '--json')
    result = json.loads(out)
    assert code == 0 and result['trials'] == 2
    assert {(r['group'], r['value']) for r in result['breakdown']} >= {('codec', 'alaw'), ('transmission', 'ita_tx')}
    df = _write(tmp_path / 'df.txt', ['LA_0023 DF_E_1 nocodec asvspoof A14 spoof notrim eval traditional_vocoder - - - -',
                                      'LA_0023 DF_E_2 low_mp3 vcc2018 - bonafide notrim eval bonafide - - - -'])
    scores = _write(tmp_path / 'd.txt', ['DF_E_1 0.1', 'DF_E_2 0.9'])
    code, out, _ = _run(capsys, '--protocol', df, '--scores', scores, '--json')
    assert code == 0 and any(r['value'] == 'traditional_vocoder' for r in json.loads(out)['breakdown'])


def test_score_file_min_tdcf_with_real_asv_scores(tmp_path, capsys):
    from tests.helpers import reference_path
    asv = reference_path('asvspoof2019_la_subset', 'LA', 'ASVspoof2019_LA_asv_scores',
                         'ASVspoof2019.LA.asv.eval.gi.trl.scores.txt')
    protocol = _write(tmp_path / 'p.txt', PROTOCOL_2019)
    scores = _write(tmp_path / 's.txt', ['LA_E_0000001 0.9', 'LA_E_0000002 0.1', 'LA_E_0000003 0.2',
                                         'LA_E_0000004 0.8'])
    code, out, _ = _run(capsys, '--protocol', protocol, '--scores', scores, '--asv-scores', asv, '--json')
    assert code == 0 and json.loads(out)['min_tdcf'] == pytest.approx(0.0)
    uncovered = _write(tmp_path / 'p2.txt', PROTOCOL_2019[:1] + ['LA_0079 LA_E_0000002 - A99 spoof'])
    two = _write(tmp_path / 's2.txt', ['LA_E_0000001 0.9', 'LA_E_0000002 0.1'])
    code, _, err = _run(capsys, '--protocol', uncovered, '--scores', two, '--asv-scores', asv)
    assert code == 1 and 'does not cover the trials' in err and 'A99' in err


@pytest.mark.slow
def test_score_file_reproduces_the_trainer_eer(demo_corpus, tiny_run, capsys):
    for name, protocol in (('19LA', os.path.join(demo_corpus['path_19LA'], 'LA/ASVspoof2019_LA_cm_protocols',
                                                 'ASVspoof2019.LA.cm.eval.trl.txt')),
                           ('21LA', os.path.join(demo_corpus['path_21LA'], 'keys/LA/CM/trial_metadata.txt'))):
        code, out, _ = _run(capsys, '--protocol', protocol, '--scores',
                            os.path.join(tiny_run, 'scores', f'{name}_epoch1.txt'), '--json')
        with open(os.path.join(tiny_run, 'metrics', f'eval_{name}_eer.txt')) as handle:
            logged = float(handle.read().split(': ')[1])
        assert code == 0 and json.loads(out)['eer'] == pytest.approx(logged, abs=1e-3)


def test_infer_scores_real_and_stereo_files_and_reports_a_corrupt_one(tiny_run, tmp_path, capsys):
    audio, _ = sf.read(FILES[0])
    stereo = tmp_path / 'stereo_44k.wav'
    sf.write(str(stereo), signal.resample_poly(np.stack([audio, 0.5 * audio], 1), 441, 160, axis=0), 44_100)
    corrupt = tmp_path / 'corrupt.flac'
    corrupt.write_bytes(b'garbage')
    checkpoint = os.path.join(tiny_run, 'models', 'epoch_1.pt')
    code = infer.main(['--checkpoint', checkpoint, *FILES, str(stereo), str(corrupt)])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert code == 1 and len(lines) == 4
    for line, path in zip(lines, FILES + [str(stereo)]):
        name, score, decision, _, llr, _, _, probability = line.split()
        assert name == path and decision in ('bonafide', 'spoof') and np.isfinite(float(score))
        assert np.isfinite(float(llr)) and 0 <= float(probability) <= 1
    assert 'corrupt.flac' in err
    code = infer.main(['--checkpoint', checkpoint, '--json', '--full', str(tmp_path), FILES[0]])
    result = json.loads(capsys.readouterr().out)
    assert [r['path'] for r in result['results']] == [str(corrupt), str(stereo), FILES[0]]
    assert 'error' in result['results'][0] and 'score' in result['results'][2]


def test_infer_uses_the_threshold_of_the_checkpoint(tiny_run, capsys):
    import torch
    checkpoint = os.path.join(tiny_run, 'models', 'epoch_1.pt')
    threshold = torch.load(checkpoint, weights_only=False)['threshold']
    infer.main(['--checkpoint', checkpoint, '--json', FILES[0]])
    result = json.loads(capsys.readouterr().out)
    assert result['threshold'] == threshold
    score = result['results'][0]['score']
    assert result['results'][0]['decision'] == ('bonafide' if score > threshold else 'spoof')
    # the calibration fitted on 19LA dev at that evaluation turns the score into an LLR
    calibration = torch.load(checkpoint, weights_only=False)['calibration']
    llr = calibration['scale'] * score + calibration['offset']
    assert result['results'][0]['llr'] == pytest.approx(llr, abs=1e-5)
    infer.main(['--checkpoint', checkpoint, '--json', '--p-spoof', '0.5', FILES[0]])
    even = json.loads(capsys.readouterr().out)['results'][0]
    assert even['p_bona_fide'] == pytest.approx(1 / (1 + np.exp(-llr)), abs=1e-5)  # equal priors: sigmoid(LLR)
    assert result['results'][0]['p_bona_fide'] == pytest.approx(1 / (1 + np.exp(-llr - np.log(19))), abs=1e-5)


@pytest.mark.slow
def test_tools_run_as_modules_from_the_repository(tmp_path):
    protocol = _write(tmp_path / 'p.txt', PROTOCOL_2019)
    scores = _write(tmp_path / 's.txt', ['LA_E_0000001 0.9', 'LA_E_0000002 0.1', 'LA_E_0000003 0.2',
                                         'LA_E_0000004 0.8'])
    environment = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH'}
    result = subprocess.run([sys.executable, '-m', 'tools.score_file', '--protocol', protocol, '--scores', scores],
                            capture_output=True, text=True, cwd=REPO, env=environment)
    assert result.returncode == 0 and 'EER 0.000 %' in result.stdout
    for tool in ('infer', 'make_demo_corpus', 'vocode_hifigan', 'import_release', 'export', 'serve'):
        result = subprocess.run([sys.executable, '-m', f'tools.{tool}', '--help'], capture_output=True, text=True,
                                cwd=REPO, env=environment)
        assert result.returncode == 0 and 'usage' in result.stdout, (tool, result.stderr)


def test_import_release_writes_a_checkpoint_that_infer_scores_like_the_release(tmp_path, capsys):
    from tools import import_release
    from trainer.build import build_detector
    args = get_args(['output_size=32', 'linear_units=64', 'embedding_size=16'])[0]
    release = build_detector(args).eval()
    release.save_hm_conformer_release(str(tmp_path / 'release'), 'LA', 7)
    out = str(tmp_path / 'imported.pt')
    code = import_release.main(['--release', str(tmp_path / 'release'), '--tag', 'LA', '--epoch', '7', '--out', out,
                                '--threshold', '0.25', 'output_size=32', 'linear_units=64', 'embedding_size=16'])
    assert code == 0
    state = torch.load(out, weights_only=False)
    assert state['threshold'] == 0.25 and state['args']['output_size'] == 32
    imported = build_detector(state['args']).eval()
    imported.load_state_dict(state['model'])
    wave = torch.randn(2, 16_000)
    assert torch.equal(imported.score(wave), release.score(wave))
    assert import_release.main(['--release', str(tmp_path / 'nowhere'), '--out', out]) == 2
    assert 'check_point_DF_frontend_20.pt' in capsys.readouterr().err
