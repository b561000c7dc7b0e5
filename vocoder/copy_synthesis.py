"""HiFi-GAN copy-synthesis: analyse a waveform to its mel, generate it back."""
from typing import List

import numpy as np
import torch

from data.audio import resample
from vocoder.hifigan import HiFiGANGenerator
from vocoder.mel_analysis import HiFiGANMel

SOURCE_RATE = 16000  # ASVspoof audio


class CopySynthesiser:
    """16 kHz waveforms -> HiFi-GAN copy-syntheses at 16 kHz, in batches."""

    def __init__(self, generator: HiFiGANGenerator, device: torch.device):
        config = generator.config
        self.rate = config.sampling_rate
        self.generator = generator.to(device).eval()
        self.mel = HiFiGANMel(config.sampling_rate, config.n_fft, config.hop_size, config.win_size,
                              config.num_mels, config.fmin, config.fmax).to(device)
        self.device = device

    @torch.no_grad()
    def __call__(self, waves: List[np.ndarray]) -> List[np.ndarray]:
        resampled = [np.clip(resample(w, SOURCE_RATE, self.rate), -1, 1) for w in waves]
        longest = max(len(w) for w in resampled)
        batch = torch.zeros(len(waves), longest)
        for i, w in enumerate(resampled):
            batch[i, :len(w)] = torch.from_numpy(w).float()
        generated = self.generator(self.mel(batch.to(self.device))).squeeze(1).cpu().numpy()
        outputs = []
        for source, w, g in zip(waves, resampled, generated):
            y = resample(g[:len(w)].astype(np.float64), self.rate, SOURCE_RATE)
            y = np.pad(y, (0, max(0, len(source) - len(y))))[:len(source)]
            peak = np.max(np.abs(y))
            outputs.append(y / peak if peak > 1 else y)
        return outputs
