"""Reading audio as mono float at 16 kHz."""
import math
import warnings

import numpy as np
import soundfile as sf
from scipy import signal

_warned_rates = set()


class AudioReadError(RuntimeError):
    """A file could not be read or holds no samples; the message names the file."""


def read_audio(path: str, sample_rate: int = 16000) -> np.ndarray:
    """Mono float64 samples of `path` at `sample_rate` (channels averaged; other rates
    resampled, with one warning per rate)."""
    try:
        wave, rate = sf.read(path, dtype='float64', always_2d=True)
    except Exception as error:
        raise AudioReadError(f"cannot read {path}: {error}") from None
    if wave.shape[0] == 0:
        raise AudioReadError(f"{path} holds no samples")
    wave = wave.mean(axis=1)
    if rate != sample_rate:
        if rate not in _warned_rates:
            _warned_rates.add(rate)
            warnings.warn(f"{path}: sample rate {rate} Hz, resampling to {sample_rate} Hz "
                          f"(warned once per rate)")
        divisor = math.gcd(rate, sample_rate)
        wave = signal.resample_poly(wave, sample_rate // divisor, rate // divisor)
    return wave
