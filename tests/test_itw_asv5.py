"""In-the-Wild and ASVspoof 5 (track 1): readers, pre-flight, evaluation with calibrated
scores and the ASVspoof 5 metrics, and score_file on both formats."""
import json
import os

import numpy as np
import pytest

from data.sets import evaluation_trials
from data.protocol import ProtocolError, read_asvspoof5, read_in_the_wild, read_protocol_file
from data.validation import DatasetError
from tests.helpers import make_itw_and_asv5, metric_steps, tiny_args


@pytest.fixture(scope='module')
def new_sets(demo_corpus, tmp_path_factory):
    return make_itw_and_asv5(demo_corpus, str(tmp_path_factory.mktemp('new_sets')))


def test_in_the_wild_rows(tmp_path):
    (tmp_path / 'meta.csv').write_text('file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Ayn Rand,bona-fide\n')
    trials = read_in_the_wild(str(tmp_path))
    assert [(t.utt_id, t.label, t.attack, t.conditions) for t in trials] == [
        ('0', 0, 'spoof', {'speaker': 'Alec Guinness'}), ('1', 1, 'bonafide', {'speaker': 'Ayn Rand'})]
    assert trials[0].path == str(tmp_path / '0.wav')
    assert read_protocol_file(str(tmp_path / 'meta.csv')) == [t.__class__(t.utt_id, '', t.label, t.attack,
                                                                           t.conditions) for t in trials]
    (tmp_path / 'meta.csv').write_text('file,speaker,label\n0.wav,Alec Guinness,fake\n')
    with pytest.raises(ProtocolError, match=r"meta.csv:2: label 'fake'"):
        read_in_the_wild(str(tmp_path))
    (tmp_path / 'meta.csv').write_text('name,label\n0.wav,spoof\n')
    with pytest.raises(ProtocolError, match='header'):
        read_in_the_wild(str(tmp_path))


def test_asvspoof5_rows(tmp_path):
    folder = tmp_path / 'ASVspoof5_protocols'
    folder.mkdir()
    (folder / 'ASVspoof5.eval.track_1.tsv').write_text(
        'E_2834 E_0000000001 F C05 3 10 A23 A23 spoof -\n'
        'E_2834 E_0000000002 F - - - bonafide bonafide bonafide -\n')
    trials = read_asvspoof5(str(tmp_path), 'eval')
    assert [(t.utt_id, t.label, t.attack, t.conditions['codec']) for t in trials] == [
        ('E_0000000001', 0, 'A23', 'C05'), ('E_0000000002', 1, 'bonafide', '-')]
    assert trials[0].path == str(tmp_path / 'flac_E_eval' / 'E_0000000001.flac')
    assert [t.utt_id for t in read_protocol_file(str(folder / 'ASVspoof5.eval.track_1.tsv'))] == \
        ['E_0000000001', 'E_0000000002']


def test_preflight_reads_both_and_names_what_is_missing(demo_corpus, new_sets, tmp_path):
    args = tiny_args({**demo_corpus, **new_sets}, tmp_path)
    sets = evaluation_trials(args, log=lambda line: None)
    assert {name: len(trials) for name, trials in sets.items() if name in ('ITW', 'ASV5dev', 'ASV5eval')} == \
        {'ITW': 90, 'ASV5dev': 60, 'ASV5eval': 90}
    args = tiny_args({**demo_corpus, 'path_ITW': str(tmp_path), 'path_ASV5': None}, tmp_path)
    with pytest.raises(DatasetError, match='meta.csv'):
        evaluation_trials(args, log=lambda line: None)


@pytest.mark.slow
def test_evaluation_reports_calibrated_metrics_on_every_set(demo_corpus, new_sets, tiny_run, tmp_path, capsys):
    from trainer.trainer import Trainer
    checkpoint = os.path.join(tiny_run, 'models', 'epoch_1.pt')
    tester = Trainer(tiny_args({**demo_corpus, **new_sets}, tmp_path, 'name=tiny', 'TEST=True',
                               f'checkpoint={checkpoint}', 'path_21LA=None', 'path_21DF=None'))
    tester.run()
    run = tester.run_dir
    from evaluation.calibration import LinearCalibration
    calibration = LinearCalibration.from_dict(tester.records[-1]['calibration'])
    assert calibration is not None and calibration.scale > 0
    for name in ('19LA', 'ITW', 'ASV5dev', 'ASV5eval', '19LA_dev'):
        for metric in ('eer', 'min_dcf', 'act_dcf', 'cllr'):
            assert metric_steps(run, f'eval_{name}_{metric}.txt') == [1], (name, metric)
    assert os.path.isfile(os.path.join(run, 'metrics', 'eval_ITW_speaker_Barack_Obama_eer.txt'))
    assert os.path.isfile(os.path.join(run, 'metrics', 'eval_ASV5eval_codec_C05_eer.txt'))
    assert os.path.isfile(os.path.join(run, 'metrics', 'eval_ASV5eval_attack_A18_eer.txt'))
    # the LLR file is the calibration applied to the raw scores, and scores like the trainer said
    raw = dict(line.split() for line in open(os.path.join(run, 'scores', 'ITW_epoch1.txt')))
    llr = dict(line.split() for line in open(os.path.join(run, 'scores', 'ITW_epoch1_llr.txt')))
    assert set(raw) == set(llr)
    for utt in list(raw)[:10]:
        assert float(llr[utt]) == pytest.approx(calibration.llr(float(raw[utt])), abs=2e-5)
    from tools import score_file
    capsys.readouterr()
    assert score_file.main(['--protocol', os.path.join(new_sets['path_ITW'], 'meta.csv'),
                            '--scores', os.path.join(run, 'scores', 'ITW_epoch1_llr.txt'), '--json']) == 0
    result = json.loads(capsys.readouterr().out)
    with open(os.path.join(run, 'metrics', 'eval_ITW_cllr.txt')) as handle:
        logged_cllr = float(handle.read().split(': ')[1])
    assert result['cllr'] == pytest.approx(logged_cllr, abs=1e-4)
    with open(os.path.join(run, 'metrics', 'eval_ITW_eer.txt')) as handle:
        assert result['eer'] == pytest.approx(float(handle.read().split(': ')[1]), abs=1e-9)


def test_score_file_calibrates_with_a_development_set(new_sets, tmp_path, capsys):
    from tools import score_file
    rng = np.random.default_rng(0)
    folder = new_sets['path_ASV5']

    def scores_for(split):
        trials = read_asvspoof5(folder, split)
        path = tmp_path / f'{split}.txt'
        path.write_text(''.join(f"{t.utt_id} {0.1 * rng.normal(1 if t.label else -1) + 0.3:.6f}\n" for t in trials))
        return str(path), os.path.join(folder, 'ASVspoof5_protocols', f'ASVspoof5.{split}.track_1.tsv')

    dev_scores, dev_protocol = scores_for('dev')
    eval_scores, eval_protocol = scores_for('eval')
    assert score_file.main(['--protocol', eval_protocol, '--scores', eval_scores, '--json']) == 0
    raw = json.loads(capsys.readouterr().out)
    assert score_file.main(['--protocol', eval_protocol, '--scores', eval_scores, '--json',
                            '--calibrate-with', dev_scores, dev_protocol, '--llr-out', str(tmp_path / 'llr.txt')]) == 0
    calibrated = json.loads(capsys.readouterr().out)
    assert calibrated['eer'] == raw['eer'] and calibrated['min_dcf'] == raw['min_dcf']  # a monotone map
    assert calibrated['calibration']['scale'] > 0 and raw['calibration'] is None
    assert calibrated['cllr'] < raw['cllr']
    assert {'eer', 'min_dcf', 'act_dcf', 'cllr'} <= set(raw)
    assert len((tmp_path / 'llr.txt').read_text().splitlines()) == 90
