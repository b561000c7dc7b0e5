"""The band of frequencies the audio occupies, measured from the files themselves
(`lfcc_band=auto`, DEVIATION:lfcc-band-from-data; docs/method.md section 7).

The authors' LFCC spreads its linear filters over 0 to sample_rate / 2. Telephone audio
(300-3400 Hz) leaves most of them on an empty band, and an MFCC GMM then beats EBM; set to
the band the audio occupies, the same filters describe the speech. The band is read from the
long-term average spectrum of a sample of training files: each file's Welch power spectrum,
normalised to unit power (a loud file counts as much as a quiet one), the median over the files
in each frequency bin (a few full-band files among telephone ones, or a few band-limited ones
among full-band ones, do not move it), in dB. Its edges are the lowest and the highest
frequency within DROP_DB of the reference level (the 90th percentile of the bins: the speech
band, not one resonance), interpolated between bins. An edge within SNAP_HZ of 0, or within
SNAP_SHARE of sample_rate / 2 of the top, is the full band's (the authors' 0 and
sample_rate / 2): speech has little energy below 100 Hz, and every resampler rolls off just
below its Nyquist frequency.

Measured on this repository's data (level relative to the reference): the three real 2019 LA
utterances reach -27 dB at 8 kHz; filtered to 300-3400 Hz they fall to -36 dB at 190 Hz and
-47 dB at 4 kHz; the telephone benchmark's files fall to -37 dB at 3.5 kHz and -35 dB below
95 Hz. DROP_DB = 25 separates all of them.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy import signal

from data.audio import AudioReadError, read_audio

DROP_DB = 25.0
REFERENCE_PERCENTILE = 90
SNAP_HZ = 100.0
SNAP_SHARE = 0.9
N_FFT = 512
FILES = 300
# the configuration keys lfcc_band=auto sets from the training audio
MEASURED_KEYS = ('lfcc_f_min', 'lfcc_f_max')


@dataclass(frozen=True)
class Band:
    f_min: float           # Hz; 0.0 for the full band's lower edge
    f_max: Optional[float]  # Hz; None for sample_rate / 2 (the authors' upper edge)
    files: int             # files the spectrum was measured on

    def describe(self, sample_rate: int) -> str:
        top = sample_rate / 2 if self.f_max is None else self.f_max
        return f"{self.f_min:.0f}-{top:.0f} Hz"


def file_spectrum(wave: np.ndarray, sample_rate: int) -> Optional[np.ndarray]:
    """A file's Welch power spectrum normalised to unit power (N_FFT // 2 + 1 bins), or None
    for a silent or too short file."""
    if len(wave) < N_FFT:
        return None
    _, power = signal.welch(wave, sample_rate, window='hann', nperseg=N_FFT, noverlap=N_FFT // 2, detrend=False)
    total = power.sum()
    return power / total if total > 0 and np.isfinite(total) else None


def long_term_spectrum(spectra: Sequence[np.ndarray]) -> np.ndarray:
    """The median over files of their normalised spectra, in dB."""
    return 10 * np.log10(np.median(np.stack(spectra), axis=0) + 1e-20)


def band_edges(level_db: np.ndarray, sample_rate: int) -> Tuple[float, Optional[float]]:
    """(f_min, f_max) of a long-term spectrum in dB over the N_FFT // 2 + 1 bins of 0 to
    sample_rate / 2: the outermost frequencies within DROP_DB of the reference level, each
    interpolated between the last bin above and the first below; snapped to the full band's."""
    frequencies = np.linspace(0, sample_rate / 2, len(level_db))
    threshold = np.percentile(level_db, REFERENCE_PERCENTILE) - DROP_DB
    inside = np.flatnonzero(level_db >= threshold)
    low, high = inside[0], inside[-1]

    def crossing(a: int, b: int) -> float:   # where the level passes the threshold between bins a and b
        fraction = (level_db[a] - threshold) / (level_db[a] - level_db[b])
        return float(frequencies[a] + fraction * (frequencies[b] - frequencies[a]))

    f_min = crossing(low, low - 1) if low > 0 else 0.0
    f_max = crossing(high, high + 1) if high < len(level_db) - 1 else sample_rate / 2
    return (0.0 if f_min < SNAP_HZ else round(f_min, 1),
            None if f_max > SNAP_SHARE * sample_rate / 2 else round(f_max, 1))


def sample_paths(paths: Sequence[str], count: int = FILES) -> List[str]:
    """Up to `count` distinct paths spread evenly over the sorted list (the same for every run
    and process that reads the same files)."""
    distinct = sorted(set(paths))
    if len(distinct) <= count:
        return distinct
    return [distinct[i] for i in np.linspace(0, len(distinct) - 1, count).round().astype(int)]


def measure_band(paths: Sequence[str], sample_rate: int, count: int = FILES) -> Band:
    """The band of the files at `paths` (a sample of `count` of them; unreadable and silent
    ones are passed over). ValueError when none can be measured."""
    spectra = []
    for path in sample_paths(paths, count):
        try:
            spectrum = file_spectrum(read_audio(path, sample_rate), sample_rate)
        except AudioReadError:
            continue
        if spectrum is not None:
            spectra.append(spectrum)
    if not spectra:
        raise ValueError(f"none of {min(len(set(paths)), count)} files could be measured (unreadable, silent or "
                         f"shorter than {N_FFT} samples)")
    f_min, f_max = band_edges(long_term_spectrum(spectra), sample_rate)
    return Band(f_min, f_max, len(spectra))


def wave_band(wave: np.ndarray, sample_rate: int) -> Optional[Band]:
    """The band one recording occupies (None when it is silent or too short)."""
    spectrum = file_spectrum(wave, sample_rate)
    if spectrum is None:
        return None
    return Band(*band_edges(long_term_spectrum([spectrum]), sample_rate), 1)


def band_difference(wave_band_: Band, trained: Band, sample_rate: int, tolerance_hz: float = 400.0) -> Optional[str]:
    """A sentence when a recording's band and the band a model was trained on differ by more
    than `tolerance_hz` at either edge (about a filter's width of the default LFCC), else None."""
    top = sample_rate / 2
    edges = [(wave_band_.f_min, trained.f_min), (wave_band_.f_max or top, trained.f_max or top)]
    if all(abs(a - b) <= tolerance_hz for a, b in edges):
        return None
    return (f"the file occupies {wave_band_.describe(sample_rate)}, the model was trained on audio of "
            f"{trained.describe(sample_rate)} (its LFCC band): scored as trained")


def trained_band(args: dict) -> Optional[Band]:
    """The band a checkpoint's configuration measured from its training audio (lfcc_band=auto),
    or None when it was not measured (a checkpoint older than the key has no lfcc_band)."""
    if args.get('lfcc_band') != 'auto':
        return None
    return Band(args['lfcc_f_min'], args['lfcc_f_max'], 0)


def measured_keys(args: dict) -> Tuple[str, ...]:
    """The configuration keys a run with these settings sets from its training audio."""
    return MEASURED_KEYS if args.get('lfcc_band') == 'auto' else ()
