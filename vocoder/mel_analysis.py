"""The mel analysis HiFi-GAN expects (22,050 Hz, n_fft 1024, hop 256, 80 Slaney bands up to 8 kHz)."""
import torch
import torchaudio
from torch import nn


class HiFiGANMel(nn.Module):
    """wave (B, N) in [-1, 1] -> log mel (B, n_mels, N // hop).

    Reflect-pad (n_fft - hop) / 2 on both sides, STFT without centring (Hann window),
    magnitude sqrt(re^2 + im^2 + 1e-9), Slaney mel filters with Slaney area
    normalisation, natural log of max(mel, 1e-5).
    """

    def __init__(self, sample_rate: int = 22050, n_fft: int = 1024, hop: int = 256, win: int = 1024,
                 n_mels: int = 80, fmin: float = 0.0, fmax: float = 8000.0):
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        bank = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, fmin, fmax, n_mels, sample_rate,
                                                     norm='slaney', mel_scale='slaney')
        self.register_buffer('mel_bank', bank.T.contiguous(), persistent=False)  # (n_mels, n_freqs)
        self.register_buffer('window', torch.hann_window(win), persistent=False)

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        pad = (self.n_fft - self.hop) // 2
        padded = nn.functional.pad(wave.unsqueeze(1), (pad, pad), mode='reflect').squeeze(1)
        spectrum = torch.stft(padded, self.n_fft, self.hop, self.win, window=self.window, center=False,
                              onesided=True, return_complex=True)
        magnitude = torch.sqrt(spectrum.real ** 2 + spectrum.imag ** 2 + 1e-9)
        return torch.log(torch.clamp(self.mel_bank @ magnitude, min=1e-5))
