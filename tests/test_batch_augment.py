import numpy as np
import pytest
import torch

from augment.batch_augment import BatchAugment
from augment.colored_noise import AddColoredNoise, colored_noise
from models.feature_masking import FeatureMasking


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


def _library_mask(f_decay: float, sample_rate: int = 16_000) -> np.ndarray:
    """torch-audiomentations' amplitude mask, written out independently in numpy."""
    bins = sample_rate // 2 + 1
    return 1.0 / np.linspace(1.0, np.sqrt(sample_rate / 2), bins) ** f_decay


@pytest.mark.parametrize('f_decay', [-2.0, -1.0, 0.0, 0.7, 2.0])
def test_colored_noise_spectrum_follows_the_library_mask(f_decay):
    """Averaged over many one-second draws, the power per bin is proportional to mask ** 2."""
    draws = 400
    noise = colored_noise(torch.full((draws,), f_decay, dtype=torch.float64), 16_000,
                          generator=torch.Generator().manual_seed(0)).numpy()
    power = np.mean(np.abs(np.fft.rfft(noise, axis=1)) ** 2, axis=0)
    expected = _library_mask(f_decay) ** 2
    expected = expected * np.sum(power) / np.sum(expected)  # unit RMS fixes the overall scale
    # 400 draws of a chi-square with 2 degrees of freedom per bin: smooth over 50 bins
    kernel = np.ones(50) / 50
    ratio = np.convolve(power, kernel, 'valid') / np.convolve(expected, kernel, 'valid')
    assert np.all(np.abs(np.log10(ratio)) < 0.05), (ratio.min(), ratio.max())


def test_colored_noise_repeats_every_second_with_unit_rms():
    noise = colored_noise(torch.tensor([-1.5, 0.0, 1.0, 2.0], dtype=torch.float64), 40_000,
                          generator=torch.Generator().manual_seed(3))
    assert noise.shape == (4, 40_000)
    assert torch.equal(noise[:, :16_000], noise[:, 16_000:32_000])
    assert torch.equal(noise[:, 32_000:], noise[:, :8_000])
    assert torch.allclose(noise[:, :16_000].pow(2).mean(1), torch.ones(4, dtype=torch.float64))


def test_colored_noise_slope_is_twice_the_docstring_above_100_hz():
    """The library's linear ramp makes the power fall as about f ** (-2 f_decay) above
    ~100 Hz, and flat at the lowest bins (mask of bin 0 is 1)."""
    noise = colored_noise(torch.full((100,), 1.0, dtype=torch.float64), 16_000,
                          generator=torch.Generator().manual_seed(1)).numpy()
    power = np.mean(np.abs(np.fft.rfft(noise, axis=1)) ** 2, axis=0)
    f = np.arange(len(power), dtype=float)
    band = (f > 500) & (f < 7000)
    slope = np.polyfit(np.log10(f[band]), np.log10(power[band]), 1)[0]
    assert -2.2 < slope < -1.6, slope


def test_colored_noise_probability_zero_leaves_the_batch():
    wave = torch.randn(4, 1000)
    assert torch.equal(AddColoredNoise(colored_noise_p=0.0)(wave), wave)


@pytest.mark.parametrize('factor', [0.9, 1.1, 1.0])
def test_speed_perturbation_changes_length_by_the_factor(factor):
    augment = BatchAugment(AddColoredNoise(colored_noise_p=0.0), [factor])
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
