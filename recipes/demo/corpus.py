"""A small generated corpus in the exact ASVspoof layouts (the demo).

Bona fide items are speech-like: a glottal pulse train with jitter and shimmer,
moving formant resonances, syllable-rate envelopes and breath noise. Spoofed items
pass the same kind of material through different synthesis processes per attack
(LPC resynthesis with a flat excitation, Griffin-Lim phase reconstruction, a
harmonic-plus-noise model with smoothed envelopes, band-limiting, frame repetition,
coarse requantisation), so a detector can learn something, and the evaluation
attacks include processes never seen in training. It is a plumbing test, not a
benchmark: its EERs say nothing about ASVspoof.
"""
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from scipy import linalg, ndimage, signal

from data.asvspoof_layout import (df21_audio_path, df21_protocol_path, la19_audio_path, la19_protocol_path, la19_row,
                                  la19_utt_id, la21_audio_path, la21_protocol_path, write_flac, write_protocol)

SR = 16000
VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (640, 1190, 2390),
          (490, 1350, 1690), (440, 1020, 2240), (660, 1720, 2410)]


# ---------------------------------------------------------------- bona fide speech

def _glottal_source(rng: np.random.Generator, n: int, f0: float, jitter: float, shimmer: float) -> np.ndarray:
    """Pulse train on a slowly moving f0, each period jittered and each pulse shimmered."""
    t = np.arange(n) / SR
    contour = f0 * (1 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * t + rng.uniform(0, 6.3)))
    positions = np.flatnonzero(np.diff(np.floor(np.cumsum(contour) / SR)) > 0) + 1
    periods = SR / contour[positions]
    positions = np.clip(positions + np.round(jitter * periods * rng.standard_normal(len(positions))), 0, n - 1)
    train = np.zeros(n)
    train[positions.astype(int)] = 1 + shimmer * rng.standard_normal(len(positions))
    pulse = np.sin(np.linspace(0, np.pi, 48)) ** 2 * np.linspace(1, -0.6, 48)
    return np.convolve(train, pulse)[:n]


def _formant_filter(x: np.ndarray, rng: np.random.Generator, syllable_samples: int, shift: float) -> np.ndarray:
    y = np.empty_like(x)
    state = None
    for start in range(0, len(x), syllable_samples):
        formants = np.array(VOWELS[rng.integers(len(VOWELS))]) * shift * rng.uniform(0.93, 1.07, 3)
        a = np.array([1.0])
        for frequency, bandwidth in zip(formants, (80, 110, 160)):
            radius = np.exp(-np.pi * bandwidth / SR)
            a = np.convolve(a, [1, -2 * radius * np.cos(2 * np.pi * frequency / SR), radius ** 2])
        if state is None:
            state = np.zeros(len(a) - 1)
        y[start:start + syllable_samples], state = signal.lfilter([1 - 0.9], a, x[start:start + syllable_samples],
                                                                  zi=state)
    return y


def speech_like(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Voiced syllables (jittered, shimmered pulses through moving formants), fricative
    bursts between some syllables, breath noise and a faint recording noise floor."""
    n = int(seconds * SR)
    f0 = rng.uniform(90, 230)
    voiced = _glottal_source(rng, n, f0, jitter=rng.uniform(0.005, 0.02), shimmer=rng.uniform(0.03, 0.1))
    syllable = int(SR / rng.uniform(3.5, 6.0))
    voiced = _formant_filter(voiced, rng, syllable, shift=rng.uniform(0.9, 1.25))
    voiced /= np.max(np.abs(voiced)) + 1e-9
    t = np.arange(n)
    phase = np.pi * t / syllable + rng.uniform(0, np.pi)
    envelope = np.clip(np.sin(phase) ** 2 * 1.3, 0, 1)
    envelope *= np.repeat(rng.random(n // syllable + 1) > 0.15, syllable)[:n]
    fricative_band = signal.butter(4, [rng.uniform(2500, 4000), 7500], 'bandpass', fs=SR, output='sos')
    fricative = signal.sosfilt(fricative_band, rng.standard_normal(n))
    fricative_gate = np.repeat(rng.random(n // syllable + 1) > 0.5, syllable)[:n] * np.cos(phase) ** 8
    breath = signal.lfilter(*signal.butter(2, [500, 5000], 'bandpass', fs=SR), rng.standard_normal(n))
    floor = 10 ** (rng.uniform(-70, -55) / 20) * rng.standard_normal(n)
    return (voiced * envelope + 0.25 * fricative * fricative_gate / (np.std(fricative) + 1e-9) * 0.3
            + 0.02 * breath * (0.3 + (1 - envelope)) + floor)


# ---------------------------------------------------------------- spoofing processes

def lpc_flat(x: np.ndarray, rng: np.random.Generator, order: int = 16) -> np.ndarray:
    """Frame-wise LPC resynthesis with a jitter-free pulse train (no shimmer)."""
    frame = 320
    period = int(SR / rng.uniform(100, 200))
    excitation = np.zeros(len(x))
    excitation[::period] = 1.0
    y = np.zeros(len(x))
    state = np.zeros(order)
    for start in range(0, len(x) - frame + 1, frame):
        segment = x[start:start + frame] * np.hanning(frame)
        r = np.correlate(segment, segment, 'full')[frame - 1:frame + order]
        if r[0] <= 1e-9:
            continue
        a = linalg.solve_toeplitz(r[:order] + 1e-9 * r[0], -r[1:order + 1])
        gain = np.sqrt(max(r[0] + np.dot(a, r[1:order + 1]), 1e-12))
        y[start:start + frame], state = signal.lfilter([gain], np.concatenate([[1], a]),
                                                       excitation[start:start + frame], zi=state)
    return y


def griffin_lim(x: np.ndarray, rng: np.random.Generator, iterations: int = 8) -> np.ndarray:
    """Keep the STFT magnitude, rebuild the phase from random by Griffin-Lim."""
    window = torch.hann_window(512, dtype=torch.float64)

    def stft(wave):
        return torch.stft(wave, 512, 256, window=window, return_complex=True)

    def istft(spectrum):
        return torch.istft(spectrum, 512, 256, window=window, length=len(x))

    magnitude = stft(torch.from_numpy(x)).abs()
    phase = torch.exp(2j * np.pi * torch.from_numpy(rng.random(tuple(magnitude.shape))))
    for _ in range(iterations):
        phase = torch.exp(1j * stft(istft(magnitude * phase)).angle())
    return istft(magnitude * phase).numpy()


def harmonic_plus_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Harmonics of a smooth f0 under a smoothed spectral envelope of x, plus shaped noise."""
    n = len(x)
    t = np.arange(n) / SR
    f0 = rng.uniform(100, 200) * (1 + 0.05 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    envelope = ndimage.uniform_filter1d(np.abs(x), 800)
    smooth = ndimage.uniform_filter1d(np.abs(np.fft.rfft(x)), 400)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    y = np.zeros(n)
    for k in range(1, 30):
        amplitude = np.interp(k * f0.mean(), freqs, smooth)
        y += amplitude * np.sin(k * phase) * (k * f0 < 7000)
    noise = signal.lfilter(*signal.butter(2, 3000, 'highpass', fs=SR), rng.standard_normal(n))
    y = y / (np.max(np.abs(y)) + 1e-9) + 0.05 * noise
    return y * envelope


def band_limit(x: np.ndarray, rng: np.random.Generator, cutoff: float = 4000) -> np.ndarray:
    return signal.sosfilt(signal.butter(8, cutoff, 'lowpass', fs=SR, output='sos'), x)


def frame_repeat(x: np.ndarray, rng: np.random.Generator, frame: int = 320) -> np.ndarray:
    """Repeat and drop random 20 ms frames (concatenation-like glitches)."""
    frames = [x[i:i + frame] for i in range(0, len(x) - frame + 1, frame)]
    order, i = [], 0
    while len(order) < len(frames):
        order.append(min(i, len(frames) - 1))
        i += int(rng.choice([0, 1, 1, 1, 2]))
    return np.concatenate([frames[j] for j in order] + [x[len(frames) * frame:]])


def requantise(x: np.ndarray, rng: np.random.Generator, levels: int = 48) -> np.ndarray:
    peak = np.max(np.abs(x)) + 1e-9
    return np.round(x / peak * levels) / levels * peak


def _chain(*steps: Callable) -> Callable:
    def run(x, rng):
        for step in steps:
            x = step(x, rng)
        return x
    return run


ATTACKS: Dict[str, Callable] = {
    'A01': lpc_flat, 'A02': griffin_lim, 'A03': harmonic_plus_noise, 'A04': frame_repeat,
    'A05': _chain(lpc_flat, band_limit), 'A06': _chain(griffin_lim, frame_repeat),
    'A07': _chain(harmonic_plus_noise, band_limit), 'A08': lambda x, r: lpc_flat(x, r, order=8),
    'A09': lambda x, r: griffin_lim(x, r, iterations=2), 'A10': _chain(harmonic_plus_noise, frame_repeat),
    'A11': requantise, 'A12': _chain(lpc_flat, griffin_lim), 'A13': _chain(frame_repeat, band_limit),
    'A14': _chain(requantise, band_limit), 'A15': _chain(lpc_flat, requantise), 'A16': frame_repeat,
    'A17': lambda x, r: band_limit(x, r, cutoff=2500), 'A18': _chain(griffin_lim, band_limit),
    'A19': _chain(griffin_lim, frame_repeat),
}
TRAIN_ATTACKS = [f'A{i:02d}' for i in range(1, 7)]
EVAL_ATTACKS = [f'A{i:02d}' for i in range(7, 20)]


def hifigan_like_copy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stand-in for a HiFi-GAN copy-synthesis: smoothed-magnitude Griffin-Lim."""
    return griffin_lim(signal.sosfilt(signal.butter(4, 7600, 'lowpass', fs=SR, output='sos'), x), rng, 4)


# ---------------------------------------------------------------- the layout

def _utterance(job: Tuple[int, str, str]) -> Tuple[str, np.ndarray]:
    torch.set_num_threads(1)
    seed, attack, path = job
    rng = np.random.default_rng(seed)
    x = speech_like(rng, rng.uniform(1.5, 3.0))
    if attack == 'vocoded':
        x = hifigan_like_copy(ATTACKS[attack_of_seed(seed)](x, rng), rng)
    elif attack != 'bonafide':
        x = ATTACKS[attack](x, rng)
    x = x / (np.max(np.abs(x)) + 1e-9) * rng.uniform(0.3, 0.9)
    x = x + 10 ** (rng.uniform(-75, -60) / 20) * rng.standard_normal(len(x))  # recording noise floor
    write_flac(path, x, SR)
    return path, x


def attack_of_seed(seed: int) -> str:
    return TRAIN_ATTACKS[seed % len(TRAIN_ATTACKS)]


def _rows(count_bona: int, count_spoof: int, attacks: List[str]) -> List[str]:
    return ['bonafide'] * count_bona + [attacks[i % len(attacks)] for i in range(count_spoof)]


def make_demo_corpus(out: str, seed: int = 0, workers: int = 2) -> Dict[str, str]:
    """Write the five sets under `out`; returns the roots to use as path_19LA / path_21LA / path_21DF."""
    rng = np.random.default_rng(seed)
    roots = {'path_19LA': os.path.join(out, 'ASVspoof2019'),
             'path_21LA': os.path.join(out, 'ASVspoof2021_LA_eval'),
             'path_21DF': os.path.join(out, 'ASVspoof2021_DF')}
    jobs: List[Tuple[int, str, str]] = []
    protocols: Dict[str, List[str]] = {}

    def seed_for() -> int:
        return int(rng.integers(2 ** 31))

    la19 = roots['path_19LA']
    for split, (bona, spoof), attacks in (('train', (60, 240), TRAIN_ATTACKS), ('dev', (30, 120), TRAIN_ATTACKS),
                                          ('eval', (30, 180), EVAL_ATTACKS)):
        lines = []
        for i, attack in enumerate(_rows(bona, spoof, attacks)):
            utt = la19_utt_id(split, 1000000 + 7919 * i % 9000000)
            lines.append(la19_row(f'LA_{79 + i % 20:04d}', utt, None if attack == 'bonafide' else attack))
            jobs.append((seed_for(), attack, la19_audio_path(la19, split, utt)))
            if split == 'train' and attack != 'bonafide':
                vocoded_seed = TRAIN_ATTACKS.index(attack) + len(TRAIN_ATTACKS) * int(rng.integers(1 << 20))
                jobs.append((vocoded_seed, 'vocoded', la19_audio_path(la19, split, utt, vocoded=True)))
        protocols[la19_protocol_path(la19, split)] = lines

    codecs = [('none', '-'), ('alaw', 'ita_tx'), ('pstn', 'sin_tx'), ('g722', 'loc_tx'), ('ulaw', 'mad_tx'),
              ('gsm', 'aws_tx'), ('opus', 'dcr_tx')]
    la21 = roots['path_21LA']
    lines = []
    for i, attack in enumerate(_rows(30, 120, EVAL_ATTACKS) + _rows(4, 6, EVAL_ATTACKS)):
        utt = f'LA_E_{3000000 + 104729 * i % 7000000:07d}'
        codec, transmission = codecs[i % len(codecs)]
        subset = 'eval' if i < 150 else 'progress'
        lines.append(f"LA_{9 + i % 30:04d} {utt} {codec} {transmission} {'-' if attack == 'bonafide' else attack} "
                     f"{'bonafide' if attack == 'bonafide' else 'spoof'} notrim {subset}")
        jobs.append((seed_for(), attack, la21_audio_path(la21, utt)))
    protocols[la21_protocol_path(la21)] = lines

    compressions = ['nocodec', 'low_mp3', 'high_mp3', 'low_m4a', 'high_m4a', 'low_ogg', 'high_ogg', 'mp3m4a',
                    'oggm4a']
    sources = ['asvspoof', 'vcc2018', 'vcc2020']
    families = ['traditional_vocoder', 'neural_vocoder_autoregressive', 'neural_vocoder_nonautoregressive',
                'waveform_concatenation', 'unknown']
    df21 = roots['path_21DF']
    lines = []
    for i, attack in enumerate(_rows(30, 120, EVAL_ATTACKS) + _rows(4, 6, EVAL_ATTACKS)):
        utt = f'DF_E_{2000000 + 65537 * i % 8000000:07d}'
        bona = attack == 'bonafide'
        subset = 'eval' if i < 150 else 'hidden_track'
        lines.append(f"LA_{23 + i % 30:04d} {utt} {compressions[i % len(compressions)]} {sources[i % 3]} "
                     f"{'-' if bona else attack} {'bonafide' if bona else 'spoof'} notrim {subset} "
                     f"{'bonafide' if bona else families[i % len(families)]} - - - -")
        jobs.append((seed_for(), attack, df21_audio_path(df21, utt)))
    protocols[df21_protocol_path(df21)] = lines

    for path, rows in protocols.items():
        write_protocol(path, rows)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_utterance, jobs, chunksize=16))
    else:
        for job in jobs:
            _utterance(job)
    return roots
