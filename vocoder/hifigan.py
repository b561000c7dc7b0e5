"""HiFi-GAN generator (Kong et al., NeurIPS 2020), V1 / V2 / V3, with the parameter
names of the public release so that its `generator_v*` checkpoints load directly."""
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import torch
from torch import nn
from torch.nn import functional as F

from models.state_dict_check import state_dict_mismatch
from utils.safe_load import UntrustedFile, torch_load
from vocoder.weight_norm_conv import WeightNormConv1d


@dataclass
class HiFiGANConfig:
    resblock: str = '1'
    upsample_rates: List[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_kernel_sizes: List[int] = field(default_factory=lambda: [16, 16, 4, 4])
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: List[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: List[List[int]] = field(default_factory=lambda: [[1, 3, 5]] * 3)
    num_mels: int = 80
    sampling_rate: int = 22050
    n_fft: int = 1024
    hop_size: int = 256
    win_size: int = 1024
    fmin: float = 0.0
    fmax: float = 8000.0

    @classmethod
    def from_json(cls, path: str) -> 'HiFiGANConfig':
        """The release's config.json (extra training keys are ignored)."""
        with open(path, encoding='utf-8') as handle:
            values = json.load(handle)
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        known['resblock'] = str(known.get('resblock', '1'))
        return cls(**known)

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS: Dict[str, HiFiGANConfig] = {
    'v1': HiFiGANConfig(),
    'v2': HiFiGANConfig(upsample_initial_channel=128),
    'v3': HiFiGANConfig(resblock='2', upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
                        upsample_initial_channel=256, resblock_kernel_sizes=[3, 5, 7],
                        resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]]),
}

LRELU_SLOPE = 0.1


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Per dilation d: x += conv2(lrelu(conv1_d(lrelu(x))))."""

    def __init__(self, channels: int, kernel_size: int, dilations: List[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(WeightNormConv1d(channels, channels, kernel_size, 1, _same_padding(kernel_size, d), d)
                                    for d in dilations)
        self.convs2 = nn.ModuleList(WeightNormConv1d(channels, channels, kernel_size, 1, _same_padding(kernel_size, 1))
                                    for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2):
            x = x + conv2(F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """Per dilation d: x += conv_d(lrelu(x))."""

    def __init__(self, channels: int, kernel_size: int, dilations: List[int]):
        super().__init__()
        self.convs = nn.ModuleList(WeightNormConv1d(channels, channels, kernel_size, 1, _same_padding(kernel_size, d), d)
                                   for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """mel (B, num_mels, T) -> waveform (B, 1, T * prod(upsample_rates)) in [-1, 1]."""

    def __init__(self, config: HiFiGANConfig):
        super().__init__()
        self.config = config
        channels = config.upsample_initial_channel
        self.conv_pre = WeightNormConv1d(config.num_mels, channels, 7, 1, 3)
        block = ResBlock1 if config.resblock == '1' else ResBlock2
        self.ups, self.resblocks = nn.ModuleList(), nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes)):
            in_channels, out_channels = channels // 2 ** i, channels // 2 ** (i + 1)
            self.ups.append(WeightNormConv1d(in_channels, out_channels, kernel, rate, (kernel - rate) // 2,
                                             transposed=True))
            for size, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
                self.resblocks.append(block(out_channels, size, dilations))
        self.conv_post = WeightNormConv1d(channels // 2 ** len(config.upsample_rates), 1, 7, 1, 3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        kernels = len(self.config.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(self.resblocks[i * kernels + j](x) for j in range(kernels)) / kernels
        # the release uses PyTorch's default slope (0.01) before the last convolution
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


class GeneratorLoadError(RuntimeError):
    """A generator checkpoint does not fit the configuration; the message names the keys."""


def load_generator(checkpoint: str, config: Optional[HiFiGANConfig] = None) -> HiFiGANGenerator:
    """Load a release checkpoint (a dict with key 'generator'); a `config.json` beside it
    overrides `config` (default V1). Missing and unexpected keys are reported by name."""
    beside = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), 'config.json')
    if os.path.isfile(beside):
        config = HiFiGANConfig.from_json(beside)
    generator = HiFiGANGenerator(config or CONFIGS['v1'])
    try:
        state = torch_load(checkpoint)
    except UntrustedFile as error:
        raise GeneratorLoadError(str(error)) from None
    if not isinstance(state, dict) or 'generator' not in state:
        raise GeneratorLoadError(f"{checkpoint}: expected a dict with key 'generator' (the release format)")
    problem = state_dict_mismatch(generator.state_dict(), state['generator'], checkpoint, 'the configuration')
    if problem:
        raise GeneratorLoadError(f"{problem}; is the configuration (--config or config.json) the one it was "
                                 f"trained with?")
    generator.load_state_dict(state['generator'])
    return generator.eval()


def save_generator(generator: HiFiGANGenerator, checkpoint: str, with_config: bool = True) -> None:
    """Write the release format: {'generator': state_dict} (and config.json beside it)."""
    os.makedirs(os.path.dirname(os.path.abspath(checkpoint)), exist_ok=True)
    torch.save({'generator': generator.state_dict()}, checkpoint)
    if with_config:
        with open(os.path.join(os.path.dirname(os.path.abspath(checkpoint)), 'config.json'), 'w') as handle:
            json.dump(generator.config.to_dict(), handle, indent=2)
