"""Long recordings scored window by window (issue 23, item 3): the windows cover the file, and
their released AASIST-L finds the spoofed middle of a real recording made of a bona fide
ASVspoof 2019 utterance around two spoofed ones."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from evaluation.segments import Window, file_verdict, spoof_spans, window_starts
from tests.helpers import AASIST_L, AASIST_L_KEYS, ONE_HEAD

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'asvspoof2019_la')


@pytest.mark.parametrize('length, crop, hop', [(100, 40, 10), (95, 40, 10), (40, 40, 10), (30, 40, 10),
                                               (1000, 64, 7)])
def test_the_windows_cover_every_sample_every_hop_and_end_at_the_end(length, crop, hop):
    starts = window_starts(length, crop, hop)
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start:start + crop] = True
    assert covered.all() and starts[0] == 0
    assert starts[-1] == max(0, length - crop)                  # the last window ends at the file's end
    gaps = np.diff(starts)
    assert (gaps[:-1] == hop).all() and (len(gaps) == 0 or 0 < gaps[-1] <= hop)


def test_each_window_speaks_for_the_stretch_around_its_centre():
    decisions = ['bonafide', 'bonafide', 'spoof', 'spoof', 'bonafide']
    windows = [Window(float(i), i + 4.0, 1.0 if d == 'bonafide' else -1.0, None, d) for i, d in enumerate(decisions)]
    # centres 2, 3, 4, 5, 6: window 2 from 3.5, window 3 to 5.5
    assert spoof_spans(windows) == [(3.5, 5.5)]
    verdict = file_verdict(windows)
    assert verdict['decision'] == 'spoof' and verdict['spoof_share'] == pytest.approx(0.4)
    assert verdict['min_window'] == [2.0, 6.0]
    assert spoof_spans([Window(0.0, 4.0, -1.0, None, 'spoof')]) == [(0.0, 4.0)]


def test_their_aasist_l_localises_the_spoofed_middle_of_a_real_recording(tmp_path, capsys):
    from tools import import_release, infer
    checkpoint = str(tmp_path / 'aasist_l.pt')
    assert import_release.main(['--release', AASIST_L, '--out', checkpoint, '--threshold', '0', 'aasist_score=logit',
                                *ONE_HEAD, *AASIST_L_KEYS]) == 0

    def read(name):
        return sf.read(os.path.join(FIXTURES, f'{name}.flac'))[0]
    bona, spoof_d, spoof_e = read('LA_T_1272637'), read('LA_D_1003356'), read('LA_E_6163791')   # A04, A09
    parts = [[bona] * 3, [spoof_d, spoof_e] * 2, [bona] * 3]
    edges = np.cumsum([0] + [sum(len(x) for x in part) for part in parts]) / 16000
    recording = str(tmp_path / 'call.wav')
    sf.write(recording, np.concatenate([x for part in parts for x in part]), 16000)
    capsys.readouterr()
    assert infer.main(['--checkpoint', checkpoint, recording, '--segments', '--json', '--tsv',
                       str(tmp_path / 'windows.tsv'), '--timeline', str(tmp_path / 'timelines')]) == 0
    result = json.loads(capsys.readouterr().out)['results'][0]

    windows = result['windows']
    assert windows[0]['start'] == 0 and windows[-1]['end'] == pytest.approx(edges[-1], abs=1e-3)
    inside = [w['score'] for w in windows if w['start'] >= edges[1] and w['end'] <= edges[2]]
    outside = [w['score'] for w in windows if w['end'] <= edges[1] or w['start'] >= edges[2]]
    assert len(inside) >= 3 and len(outside) >= 6
    assert max(inside) < min(outside)                            # every spoof window below every bona fide one
    assert result['decision'] == 'spoof'
    (start, end), = result['spoof_spans']                        # one span, about where the spoofed part is
    overlap = min(end, edges[2]) - max(start, edges[1])
    assert overlap / (max(end, edges[2]) - min(start, edges[1])) > 0.8
    assert os.path.getsize(result['timeline']) > 10000 and open(result['timeline'], 'rb').read(4) == b'\x89PNG'
    rows = (tmp_path / 'windows.tsv').read_text().splitlines()
    assert rows[0].split('\t') == ['path', 'start', 'end', 'score', 'llr', 'decision'] and len(rows) == 1 + len(windows)
    assert [row.split('\t')[5] for row in rows[1:]] == [w['decision'] for w in windows]


def test_segments_refuse_a_hop_that_is_not_positive_and_the_full_average(tmp_path, capsys):
    from tools import infer
    recording = str(tmp_path / 'a.wav')
    sf.write(recording, np.zeros(16000), 16000)
    assert infer.main(['--checkpoint', 'unused.pt', recording, '--segments', '--hop', '0']) == 2
    assert '--hop 0.0: must be a positive number of seconds' in capsys.readouterr().err
    assert infer.main(['--checkpoint', 'unused.pt', recording, '--segments', '--full']) == 2
    assert '--segments and --full: choose one' in capsys.readouterr().err
