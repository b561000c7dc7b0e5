"""Cutting one training view from a waveform (docs/method.md section 5)."""
from typing import Callable, Optional

import numpy as np

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Codec = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]


def crop_samples(frames: int, hop: int = 160) -> int:
    """Samples of a crop of `frames` LFCC frames: frames * hop - 40 (404 x 160 - 40 = 64,600)."""
    return frames * hop - 40


def make_view(wave: np.ndarray, crop: int, random_window: bool, rng: np.random.Generator,
              codec: Optional[Codec] = None, codec_crop_factor: float = 1.2,
              rawboost: Optional[Augment] = None) -> np.ndarray:
    """One view of `crop` samples, float64.

    The codec (a RandomCodec, which applies itself with its own probability) encodes the
    first int(codec_crop_factor * crop) samples when it applies and leaves the whole
    file otherwise; a shorter result is wrap-padded to the crop; a longer one gives its
    first `crop` samples (long view) or a uniformly random window (short view), which
    without a codec ranges over the whole file. RawBoost comes last.
    """
    x = np.asarray(wave, dtype=np.float64)
    if codec is not None:
        x = codec(x, rng, int(codec_crop_factor * crop))
    if len(x) < crop:
        x = np.pad(x, (0, crop - len(x)), mode='wrap')
    elif random_window:
        start = int(rng.integers(len(x) - crop + 1))
        x = x[start:start + crop]
    else:
        x = x[:crop]
    if rawboost is not None:
        x = rawboost(x, rng)
    return x
