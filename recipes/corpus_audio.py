"""What the recipe corpus builders share: the Debian packages they need, and audio prepared
as mono at a target rate with silence trimmed at both ends."""
import os
import sys
from typing import Dict

import numpy as np
from scipy import signal


def check_packages(required: Dict[str, str]) -> None:
    """Exit naming the missing packages of `required` ({package: a path it installs}) and the
    apt-get command that installs them all."""
    missing = [name for name, path in required.items() if not os.path.exists(path)]
    if missing:
        sys.exit(f"missing Debian packages: {' '.join(missing)}\n  apt-get install {' '.join(required)}")


def to_rate(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """(N,) or (N, channels) at `rate` -> (M,) float64 mono at `target` (polyphase resampling)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate == target:
        return x
    divisor = np.gcd(rate, target)
    return signal.resample_poly(x, target // divisor, rate // divisor)


def trim(x: np.ndarray, rate: int, floor_db: float = 35.0, margin: float = 0.03) -> np.ndarray:
    """Cut leading and trailing 10 ms frames more than `floor_db` below the loudest, keeping
    `margin` seconds on each side."""
    hop = rate // 100
    frames = len(x) // hop
    if frames == 0:
        return x
    energy = 10 * np.log10(np.mean(x[:frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12)
    active = np.flatnonzero(energy > energy.max() - floor_db)
    pad = int(margin * rate)
    return x[max(0, active[0] * hop - pad):min(len(x), (active[-1] + 1) * hop + pad)]
