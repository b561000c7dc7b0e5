import numpy as np
import pytest
import torch
from scipy import signal

from augment.batch_augment import BatchAugment
from augment.colored_noise import AddColoredNoise, colored_noise
from augment.feature_masking import FeatureMasking


def test_colored_noise_realises_the_drawn_snr():
    generator = torch.Generator().manual_seed(0)
    wave = torch.randn(16, 32_000, dtype=torch.float64, generator=generator) * 0.1
    augment = AddColoredNoise()
    snr, decay, apply = augment.draw(16, wave.device, torch.Generator().manual_seed(1))
    noisy = augment(wave, torch.Generator().manual_seed(1))
    realised = 20 * torch.log10(wave.pow(2).mean(1).sqrt() / (noisy - wave).pow(2).mean(1).sqrt())
    assert apply.all()
    assert torch.all((realised - snr).abs() < 0.1)
    assert torch.all((snr >= 10) & (snr <= 40)) and torch.all((decay >= -2) & (decay <= 2))


@pytest.mark.parametrize('f_decay', [-2.0, -1.0, 0.0, 1.0, 2.0])
def test_colored_noise_spectral_slope(f_decay):
    noise = colored_noise(torch.tensor([f_decay], dtype=torch.float64), 16_000 * 20,
                          generator=torch.Generator().manual_seed(0))[0].numpy()
    f, p = signal.welch(noise, 16_000, nperseg=4096)
    band = (f > 100) & (f < 7000)
    slope = np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]
    assert abs(slope + f_decay) < 0.1


def test_colored_noise_probability_zero_leaves_the_batch():
    wave = torch.randn(4, 1000)
    assert torch.equal(AddColoredNoise(p=0.0)(wave), wave)


@pytest.mark.parametrize('factor', [0.9, 1.1, 1.0])
def test_speed_perturbation_changes_length_by_the_factor(factor):
    augment = BatchAugment(AddColoredNoise(p=0.0), [factor])
    out = augment(torch.randn(3, 64_600))
    assert out.shape[0] == 3
    assert abs(out.shape[1] - 64_600 / factor) <= 1


def test_time_masking_hides_whole_frames_shared_across_the_batch():
    torch.manual_seed(0)
    masking = FeatureMasking(20, 1.0, 'time').train()
    widths = []
    for _ in range(30):
        features = torch.rand(3, 404, 120) + 1
        masked = masking(features)
        zero = masked == 0
        frames = zero.all(dim=2)
        assert torch.equal(zero.any(dim=2), frames)  # whole frames only
        assert torch.equal(frames[0], frames[1]) and torch.equal(frames[0], frames[2])
        widths.append(int(frames[0].sum()))
        assert widths[-1] <= 20
    assert max(widths) > 0


def test_coefficient_masking_and_eval_mode():
    torch.manual_seed(0)
    masking = FeatureMasking(20, 1.0, 'coefficient').train()
    features = torch.rand(2, 50, 120) + 1
    zero = masking(features) == 0
    assert torch.equal(zero.any(dim=1), zero.all(dim=1))  # whole coefficient columns
    assert torch.equal(masking.eval()(features), features)
