"""The pieces of the real-speech recipes that decide what their tables mean: the telephone
channel hides what would tell the classes apart without listening, and the groups (seen,
unseen, new speakers) are the ones the protocols define."""
import numpy as np
import pytest
import soundfile as sf

from recipes.study import Groups, cepstral_frames, write_table
from recipes.corpus_audio import to_rate, trim
from recipes.telephone.corpus import RATE, telephone_channel


def _band_share(x, rate, low, high):
    power, frequencies = np.abs(np.fft.rfft(x)) ** 2, np.fft.rfftfreq(len(x), 1 / rate)
    return power[(frequencies >= low) & (frequencies < high)].sum() / power.sum()


def test_the_telephone_channel_leaves_no_trace_of_what_came_in_outside_the_band():
    """A recording high-passed at its source and a synthesiser with a DC offset and a strong
    80 Hz hum come out alike below 150 Hz and above 3.6 kHz: the floor hides the residue."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * RATE) / RATE
    speech = np.sin(2 * np.pi * 700 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.3 * np.sin(2 * np.pi * 1900 * t)
    hummed = speech + 0.5 + 2.0 * np.sin(2 * np.pi * 80 * t)
    clean_out, hummed_out = telephone_channel(speech, rng), telephone_channel(hummed, rng)
    assert len(clean_out) == len(hummed_out) == 2 * len(speech)   # 16 kHz
    for low, high in ((0, 150), (3600, 8000)):
        clean, hum = _band_share(clean_out, 16000, low, high), _band_share(hummed_out, 16000, low, high)
        assert clean < 1e-4 and hum < 1e-4 and 0.1 < hum / clean < 10, (low, clean, hum)
    assert 0.25 <= np.abs(clean_out).max() <= 0.81


def test_corpus_audio_is_mono_at_the_target_rate_and_trimmed_to_the_speech():
    """A stereo 22.05 kHz tone between silences: one channel at 8 kHz, same frequency, and
    trimmed to the tone plus the 30 ms margin on each side."""
    t = np.arange(22050) / 22050
    tone = np.sin(2 * np.pi * 440 * t) * ((t >= 0.25) & (t < 0.75))
    mono = to_rate(np.stack([tone, tone], axis=1), 22050, RATE)
    assert mono.shape == (RATE,) and mono.dtype == np.float64
    assert np.argmax(np.abs(np.fft.rfft(mono))) == 440
    kept = trim(mono, RATE)
    assert abs(len(kept) - (0.5 + 2 * 0.03) * RATE) <= RATE // 100


@pytest.mark.parametrize('features', ['mfcc', 'lfcc'])
def test_baseline_frames_keep_the_loudest_seventy_percent(tmp_path, features):
    """20 coefficients and their deltas per frame; in a file whose first 30 % is near
    silence, the frames kept are the loud ones (their c0 above any silent frame's)."""
    rng = np.random.default_rng(0)
    quiet, loud = 1e-4 * rng.standard_normal(9600), 0.3 * rng.standard_normal(22400)
    for name, wave in (('x', np.concatenate([quiet, loud])), ('quiet', quiet)):
        sf.write(str(tmp_path / f'{name}.flac'), wave.astype(np.float32), 16000)
    frames = cepstral_frames(str(tmp_path / 'x.flac'), features)
    total = 1 + 32000 // 160
    assert frames.shape[1] == 40 and abs(len(frames) - 0.7 * total) <= 2
    silent_c0 = cepstral_frames(str(tmp_path / 'quiet.flac'), features)[:, 0]
    assert frames[:, 0].min() > silent_c0.max()


def test_groups_follow_the_protocols(tmp_path):
    """Seen attacks are the train split's, unseen the others; new speakers are the bona fide
    speakers of eval never heard in train."""
    root = tmp_path / 'LA'
    rows = {'train': [('alice', 'T1', '-', 'bonafide'), ('A01_x', 'T2', 'A01', 'spoof')],
            'dev': [('alice', 'D1', '-', 'bonafide'), ('A01_x', 'D2', 'A01', 'spoof')],
            'eval': [('alice', 'E1', '-', 'bonafide'), ('bob', 'E2', '-', 'bonafide'),
                     ('A01_x', 'E3', 'A01', 'spoof'), ('A07_y', 'E4', 'A07', 'spoof')]}
    names = {'train': 'train.trn', 'dev': 'dev.trl', 'eval': 'eval.trl'}
    (root / 'ASVspoof2019_LA_cm_protocols').mkdir(parents=True)
    for split, lines in rows.items():
        (root / f'ASVspoof2019_LA_{split}' / 'flac').mkdir(parents=True)
        for _, utt, _, _ in lines:
            sf.write(str(root / f'ASVspoof2019_LA_{split}' / 'flac' / f'{utt}.flac'), np.zeros(160), 16000)
        (root / 'ASVspoof2019_LA_cm_protocols' / f'ASVspoof2019.LA.cm.{names[split]}.txt').write_text(
            ''.join(' '.join(line) + '\n' for line in lines))
    groups = Groups(str(tmp_path))
    assert groups.seen == ['A01'] and groups.unseen == ['A07'] and groups.new_speakers == {'E2'}
    eers = groups.eers({'E1': 0.9, 'E2': 0.99, 'E3': 0.2, 'E4': 0.95}, {'D1': 1.0, 'D2': 0.0})
    # A01 is below every bona fide score, A07 above alice's; bob alone is above every spoof
    assert eers['dev'] == 0 and eers['seen'] == 0 and eers['unseen'] > 0 and eers['eval'] > 0
    assert eers['new speakers'] == 0


def test_the_ablation_table_gives_the_mean_and_each_seed(tmp_path):
    table = [{'row': 'published', 'seed': 1, 'dev': 10.0, 'eval': 20.0},
             {'row': 'published', 'seed': 2, 'dev': 12.0, 'eval': 24.0},
             {'row': 'no_codec', 'seed': 1, 'dev': 5.0, 'eval': 9.0}]
    write_table(table, str(tmp_path / 'ablation'))
    lines = (tmp_path / 'ablation.md').read_text().splitlines()
    assert lines[0] == '| row | dev | eval |'
    assert lines[2] == '| published | 11.0 (10.0 / 12.0) | 22.0 (20.0 / 24.0) |'
    assert lines[3] == '| no_codec | 5.0 (5.0) | 9.0 (9.0) |'
    assert (tmp_path / 'ablation.csv').read_text().splitlines()[0] == 'row,seed,dev,eval'
