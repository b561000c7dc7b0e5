"""The picture of rawboost_device=cuda against the per-item RawBoost: for each choice 1..8,
the mean spectrum of --draws outputs of both on a real 2019 LA utterance (the fixture),
with the input's, in one PNG.

    python3 -m benchmarks.rawboost_device_spectra [--draws 96] [--out docs/images/rawboost_device_spectra.png]
"""
import argparse
import glob
import os

import matplotlib
import numpy as np
import torch
from scipy import signal

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from augment.rawboost import rawboost  # noqa: E402
from augment.rawboost_batched import rawboost_batch  # noqa: E402
from data.audio import read_audio  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = {1: 'LnL', 2: 'ISD', 3: 'SSI', 4: 'LnL-ISD-SSI', 5: 'LnL-ISD', 6: 'LnL-SSI', 7: 'ISD-SSI', 8: 'LnL + ISD'}


def mean_spectrum(waves: np.ndarray):
    frequencies, power = signal.welch(waves, 16000, nperseg=512, axis=-1)
    return frequencies / 1000, 10 * np.log10(power.reshape(-1, power.shape[-1]).mean(axis=0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--draws', type=int, default=96)
    parser.add_argument('--out', default=os.path.join(REPO, 'docs', 'images', 'rawboost_device_spectra.png'))
    options = parser.parse_args()
    x = read_audio(sorted(glob.glob(os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', '*.flac')))[0])[:24_000]
    figure, axes = plt.subplots(2, 4, figsize=(14, 6), sharex=True, sharey=True)
    for axis, choice in zip(axes.flat, NAMES):
        per_item = np.stack([rawboost(x, choice, np.random.default_rng([choice, i])) for i in range(options.draws)])
        torch.manual_seed(choice)
        batched = rawboost_batch(torch.tensor(x).expand(options.draws, -1).clone(),
                                 torch.full((options.draws,), choice)).numpy()
        axis.plot(*mean_spectrum(per_item), '-', label='per item (loader, numpy)')
        axis.plot(*mean_spectrum(batched), '--', label='batched (device, torch)')
        axis.plot(*mean_spectrum(x), ':', color='grey', label='input')
        axis.set_title(f'choice {choice}: {NAMES[choice]}')
        axis.grid(alpha=0.3)
    for axis in axes[1]:
        axis.set_xlabel('kHz')
    for axis in axes[:, 0]:
        axis.set_ylabel('mean PSD, dB')
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(f'RawBoost per item vs batched on the device: mean spectrum of {options.draws} draws per choice '
                    f'(real 2019 LA utterance)')
    figure.tight_layout()
    figure.savefig(options.out, dpi=80)
    print(f"wrote {options.out}")


if __name__ == '__main__':
    main()
