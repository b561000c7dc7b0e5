import os
import shutil

import pytest

from arguments import get_args
from data.sets import evaluation_trials, training_trials
from data.protocol import (ProtocolError, read_asvspoof2019, read_asvspoof2021_df, read_asvspoof2021_la, summary)
from data.validation import DatasetError
from tests.helpers import FIXTURES, reference_path


def _write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')


@pytest.mark.parametrize('split,bona,spoof,attacks', [
    ('train', 2580, 22800, [f'A{i:02d}' for i in range(1, 7)]),
    ('dev', 2548, 22296, [f'A{i:02d}' for i in range(1, 7)]),
    ('eval', 7355, 63882, [f'A{i:02d}' for i in range(7, 20)]),
])
def test_real_2019_protocol_counts(split, bona, spoof, attacks):
    root = reference_path('asvspoof2019_la_subset')
    trials = read_asvspoof2019(root, split)
    assert sum(t.label for t in trials) == bona
    assert sum(1 - t.label for t in trials) == spoof
    assert sorted({t.attack for t in trials if t.label == 0}) == attacks
    assert {t.attack for t in trials if t.label == 1} == {'bonafide'}
    assert trials[0].path == os.path.join(root, f'LA/ASVspoof2019_LA_{split}/flac', trials[0].utt_id + '.flac')


def test_four_column_fixture_rows(tmp_path):
    with open(os.path.join(FIXTURES, 'asvspoof2019_la', 'protocol_rows_4col.txt')) as handle:
        rows = handle.read().splitlines()
    _write(tmp_path / 'LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt', rows)
    trials = read_asvspoof2019(str(tmp_path), 'train')
    assert [(t.utt_id, t.label, t.attack) for t in trials[:4]] == [
        ('LA_T_1138215', 1, 'bonafide'), ('LA_T_1271820', 1, 'bonafide'), ('LA_T_1272637', 1, 'bonafide'),
        ('LA_T_1004644', 0, 'A01')]
    assert trials[-1].utt_id == 'LA_D_1003356' and trials[-1].attack == 'A04'


def test_official_five_column_rows(tmp_path):
    _write(tmp_path / 'LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.dev.trl.txt',
           ['LA_0079 LA_T_1138215 - - bonafide', 'LA_0079 LA_T_1004644 - A01 spoof'])
    trials = read_asvspoof2019(str(tmp_path), 'dev')
    assert [(t.utt_id, t.label, t.attack) for t in trials] == [('LA_T_1138215', 1, 'bonafide'),
                                                               ('LA_T_1004644', 0, 'A01')]
    assert trials[1].path == str(tmp_path / 'LA/ASVspoof2019_LA_dev/flac/LA_T_1004644.flac')


def test_2021_la_rows_keep_only_eval(tmp_path):
    _write(tmp_path / 'keys/LA/CM/trial_metadata.txt', [
        'LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval',
        'LA_0009 LA_E_1111111 none - - bonafide notrim progress',
        'LA_0010 LA_E_2222222 gsm sin_tx - bonafide notrim eval'])
    trials = read_asvspoof2021_la(str(tmp_path))
    assert [(t.utt_id, t.label, t.attack, t.conditions) for t in trials] == [
        ('LA_E_9332881', 0, 'A07', {'codec': 'alaw', 'transmission': 'ita_tx'}),
        ('LA_E_2222222', 1, 'bonafide', {'codec': 'gsm', 'transmission': 'sin_tx'})]
    assert trials[0].path == str(tmp_path / 'flac/LA_E_9332881.flac')
    assert len(read_asvspoof2021_la(str(tmp_path), subset=None)) == 3


def test_2021_df_rows_keep_only_eval(tmp_path):
    _write(tmp_path / 'keys/DF/CM/trial_metadata.txt', [
        'LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim eval traditional_vocoder - - - -',
        'LA_0023 DF_E_2000012 low_mp3 vcc2018 - bonafide notrim progress bonafide - - - -',
        'LA_0023 DF_E_2000013 high_m4a vcc2020 - bonafide notrim eval bonafide - - - -'])
    trials = read_asvspoof2021_df(str(tmp_path))
    assert [(t.utt_id, t.label, t.attack) for t in trials] == [('DF_E_2000011', 0, 'A14'),
                                                               ('DF_E_2000013', 1, 'bonafide')]
    assert trials[0].conditions == {'compression': 'nocodec', 'source': 'asvspoof', 'vocoder': 'traditional_vocoder'}
    assert trials[0].path == str(tmp_path / 'ASVspoof2021_DF_eval/flac/DF_E_2000011.flac')


def test_bad_key_and_short_row_name_the_line(tmp_path):
    protocol = tmp_path / 'keys/LA/CM/trial_metadata.txt'
    _write(protocol, ['LA_0009 LA_E_9332881 alaw ita_tx A07 fake notrim eval'])
    with pytest.raises(ProtocolError, match=f"{protocol}:1: key column is 'fake'"):
        read_asvspoof2021_la(str(tmp_path))
    _write(protocol, ['LA_0009 LA_E_9332881 alaw'])
    with pytest.raises(ProtocolError, match=f'{protocol}:1: 3 columns'):
        read_asvspoof2021_la(str(tmp_path))


def _demo_args(demo_corpus, *extra):
    return get_args([f"{key}={value}" for key, value in demo_corpus.items()] + list(extra))[0]


def test_demo_corpus_passes_readers_and_validation(demo_corpus):
    logs = []
    train = training_trials(_demo_args(demo_corpus), logs.append)
    assert sum(t.label for t in train) == 60 and sum(1 - t.label for t in train) == 480
    assert sum(1 for t in train if t.conditions.get('vocoder') == 'hifi_gan') == 240
    sets = evaluation_trials(_demo_args(demo_corpus), logs.append)
    counts = {name: (sum(t.label for t in trials), sum(1 - t.label for t in trials)) for name, trials in sets.items()}
    assert counts == {'19LA': (30, 180), '21LA': (30, 120), '21DF': (30, 120)}
    assert sorted({t.attack for t in sets['19LA'] if t.label == 0}) == [f'A{i:02d}' for i in range(7, 20)]
    assert logs[0] == '19LA train: 60 bona fide, 240 spoof, attacks A01..A06 (6)'
    dev = read_asvspoof2019(demo_corpus['path_19LA'], 'dev')
    assert summary('dev', dev) == 'dev: 30 bona fide, 120 spoof, attacks A01..A06 (6)'


def test_sets_can_be_skipped_and_vocoder_absence_is_said(demo_corpus, tmp_path):
    root = tmp_path / 'ASVspoof2019'
    shutil.copytree(demo_corpus['path_19LA'], root, ignore=shutil.ignore_patterns('vocoder'))
    logs = []
    args = _demo_args(demo_corpus, f'path_19LA={root}', 'path_21LA=None', 'path_21DF=None')
    train = training_trials(args, logs.append)
    assert len(train) == 300
    assert sum('no vocoded copies' in line for line in logs) == 1
    assert list(evaluation_trials(args, logs.append)) == ['19LA']


def test_missing_pieces_are_named(demo_corpus, tmp_path):
    with pytest.raises(DatasetError, match=r"dataset root '/nowhere' \(argument path_19LA\)"):
        training_trials(_demo_args(demo_corpus, 'path_19LA=/nowhere'))
    root = tmp_path / 'ASVspoof2019'
    shutil.copytree(demo_corpus['path_19LA'], root)
    protocol = root / 'LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.eval.trl.txt'
    os.rename(protocol, str(protocol) + '.bak')
    with pytest.raises(DatasetError, match=f'protocol file not found: {protocol}'):
        evaluation_trials(_demo_args(demo_corpus, f'path_19LA={root}'))
    os.rename(str(protocol) + '.bak', protocol)
    audio = sorted((root / 'LA/ASVspoof2019_LA_eval/flac').iterdir())
    for path in audio[:7]:
        path.unlink()
    with pytest.raises(DatasetError) as error:
        evaluation_trials(_demo_args(demo_corpus, f'path_19LA={root}'))
    message = str(error.value)
    assert '7 of 210 audio files' in message and 'Expected layout' in message
    deleted = {str(p) for p in audio[:7]}
    assert len([line for line in message.splitlines() if line.strip() in deleted]) == 5
