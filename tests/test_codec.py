import glob
import os

import numpy as np
import pytest
import soundfile as sf
from scipy import signal, stats

from augment.codec import QUALITIES, CodecAugment, RandomCodec, aac_round_trip, g711_round_trip, mp3_round_trip
from tests.helpers import FIXTURES

FILES = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))
ALL = [(codec, quality) for codec, qualities in QUALITIES.items() for quality in qualities]


def _white(seed=0, n=48_000):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, n)


def _energy_above(y, frequency):
    f, p = signal.welch(y, 16_000, nperseg=1024)
    return p[f > frequency].sum()


@pytest.mark.parametrize('codec,quality', ALL)
def test_every_codec_and_quality_on_real_speech(codec, quality):
    augment = CodecAugment()
    for path in FILES:
        x, _ = sf.read(path, dtype='float64')
        y = augment.apply(x, codec, quality)
        assert y.dtype == np.float64 and len(y) == len(x)
        assert np.all(np.isfinite(y))
        assert np.corrcoef(x, y)[0, 1] > 0.5  # aligned: encoder delay trimmed
        assert not np.array_equal(x, y)


def test_mp3_quality_7_low_passes_white_noise():
    x = _white()
    y = mp3_round_trip(x, 7)
    assert _energy_above(y, 7200) < 0.1 * _energy_above(x, 7200)
    assert _energy_above(y, 2000) > 0.5 * _energy_above(x, 2000)


def test_aac_32_kbps_is_much_lossier_than_128():
    """At 16 kHz FFmpeg's AAC cut-off for 32 kbit/s mono (9.5 kHz) lies above Nyquist, so
    the loss shows as coding noise rather than a low-pass."""
    x = _white()

    def snr(y):
        return 10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2))

    assert snr(aac_round_trip(x, 32)) < 5
    assert snr(aac_round_trip(x, 128)) > 15


@pytest.mark.parametrize('law', ['alaw', 'mulaw'])
def test_g711_curve_then_resample_without_peak_normalisation(law):
    """Against an independent computation: resample to 8 kHz, normalise that peak if
    above 1, compress with the G.711 formula, resample back and stop there."""
    for x in (_white() * 2, _white(1) * 0.01, sf.read(FILES[0])[0]):
        narrow = signal.resample(x, len(x) // 2)
        narrow = narrow / max(1.0, np.max(np.abs(narrow)))
        m = np.abs(narrow)
        if law == 'mulaw':
            coded = np.sign(narrow) * np.log(1 + 255 * m) / np.log(256)
        else:
            a = 87.6
            with np.errstate(divide='ignore'):
                coded = np.sign(narrow) * np.where(m < 1 / a, a * m, 1 + np.log(a * m)) / (1 + np.log(a))
        expected = signal.resample(coded, len(x))
        y = g711_round_trip(x, law, False)
        assert len(y) == len(x) and np.allclose(y, expected, atol=1e-12)
    loud = g711_round_trip(_white() * 2, law, False)
    assert np.max(np.abs(loud)) > 1  # the resampling ripple is kept, as the authors' code keeps it


def test_g711_faithful_curve_differs_from_the_round_trip():
    x, _ = sf.read(FILES[0])
    curve_only = g711_round_trip(x, 'mulaw', False)
    round_trip = g711_round_trip(x, 'mulaw', True)
    # the real round trip expands back: much closer to the input than the bare curve
    assert np.mean((round_trip - x) ** 2) < 0.1 * np.mean((curve_only - x) ** 2)


def test_draw_frequencies_match_the_authors():
    augment = CodecAugment()
    rng = np.random.default_rng(0)
    draws = [augment.draw(rng) for _ in range(5000)]
    counts = [sum(1 for codec, _ in draws if codec == name) for name in QUALITIES]
    assert stats.chisquare(counts).pvalue > 0.001
    for name in ('mp3', 'ogg', 'aac'):
        qualities = [quality for codec, quality in draws if codec == name]
        per_quality = [qualities.count(q) for q in QUALITIES[name]]
        assert stats.chisquare(per_quality).pvalue > 0.001


def test_opus_switch():
    rng = np.random.default_rng(1)
    assert 'opus' not in {CodecAugment().draw(rng)[0] for _ in range(500)}
    with_opus = CodecAugment(codec_opus=True)
    draws = [with_opus.draw(rng)[0] for _ in range(1200)]
    assert 150 < draws.count('opus') < 250
    x, _ = sf.read(FILES[0])
    y = with_opus.apply(x, 'opus', 16)
    assert len(y) == len(x) and np.corrcoef(x, y)[0, 1] > 0.9


def test_random_codec_probability():
    x = _white(n=4000)
    augment = RandomCodec(codec_p=0.8)
    changed = [not np.array_equal(augment(x, np.random.default_rng(s)), x) for s in range(200)]
    assert 0.7 < np.mean(changed) < 0.9
    assert np.array_equal(augment(x, np.random.default_rng(5)), augment(x, np.random.default_rng(5)))


def test_random_codec_cuts_only_when_it_applies():
    x = _white(n=20_000)
    assert len(RandomCodec(codec_p=1.0)(x, np.random.default_rng(0), 6_000)) == 6_000
    assert np.array_equal(RandomCodec(codec_p=0.0)(x, np.random.default_rng(0), 6_000), x)