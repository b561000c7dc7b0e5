"""Reading audio as mono float at the configured sample rate (16 kHz by default)."""
import math
import os
import warnings
from typing import List, Optional

import numpy as np
import soundfile as sf
from scipy import signal

_warned_rates = set()
AUDIO_EXTENSIONS = ('.flac', '.wav', '.mp3', '.ogg', '.opus', '.aiff', '.aif', '.au')


class AudioReadError(RuntimeError):
    """A file could not be read or holds no samples; the message names the file."""


def resample(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling by the reduced rate ratio."""
    divisor = math.gcd(source_rate, target_rate)
    return signal.resample_poly(wave, target_rate // divisor, source_rate // divisor)


def read_audio(path: str, sample_rate: int = 16000, max_samples: Optional[int] = None) -> np.ndarray:
    """Mono float64 samples of `path` at `sample_rate` (channels averaged; other rates
    resampled, with one warning per rate); a file without samples or with a NaN or an
    infinity among them raises AudioReadError naming it. With `max_samples`, a file already at
    `sample_rate` is read only up to that many samples (the same first samples as a
    whole read: an evaluation crop needs no more); other rates are read whole, so that
    the resampling is the same as without it."""
    try:
        with sf.SoundFile(path) as audio:
            rate = audio.samplerate
            frames = max_samples if max_samples is not None and rate == sample_rate else -1
            wave = audio.read(frames, dtype='float64', always_2d=True)
    except Exception as error:
        raise AudioReadError(f"cannot read {path}: {error}") from None
    if wave.shape[0] == 0:
        raise AudioReadError(f"{path} holds no samples")
    if not np.isfinite(wave).all():
        bad = int(np.sum(~np.isfinite(wave)))
        raise AudioReadError(f"{path} holds {bad} non-finite sample(s) (NaN or infinity; a float file "
                             f"written from a diverged signal?)")
    wave = wave.mean(axis=1)
    if rate != sample_rate:
        if rate not in _warned_rates:
            _warned_rates.add(rate)
            warnings.warn(f"{path}: sample rate {rate} Hz, resampling to {sample_rate} Hz "
                          f"(warned once per rate)")
        wave = resample(wave, rate, sample_rate)
    return wave


def audio_files_under(folder: str) -> List[str]:
    """The audio files (AUDIO_EXTENSIONS) under `folder`, at any depth, in sorted order."""
    return [os.path.join(here, name) for here, _, names in sorted(os.walk(folder))
            for name in sorted(names) if name.lower().endswith(AUDIO_EXTENSIONS)]
