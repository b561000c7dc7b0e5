"""Conformer convolution module that lets the CLS tokens through untouched."""
import torch
from torch import nn


class ConvolutionModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv, BatchNorm, Swish, pointwise conv.

    x (B, L, d) -> (B, L, d). QUIRK:conv-skips-cls: the first `len_cls` positions (the CLS
    tokens) skip the module and are returned as they came in, so the block's residual
    add turns a CLS row c into c + LN(c); only the frames are convolved (with their
    own zero padding at the edges).
    """

    def __init__(self, channels: int, kernel_size: int = 15):
        super().__init__()
        self.pointwise_conv1 = nn.Conv1d(channels, 2 * channels, kernel_size=1)
        self.depthwise_conv = nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2,
                                        groups=channels)
        self.norm = nn.BatchNorm1d(channels)
        self.activation = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor, len_cls: int) -> torch.Tensor:
        cls, frames = x[:, :len_cls], x[:, len_cls:].transpose(1, 2)  # frames: (B, d, T)
        frames = nn.functional.glu(self.pointwise_conv1(frames), dim=1)
        frames = self.activation(self.norm(self.depthwise_conv(frames)))
        frames = self.pointwise_conv2(frames).transpose(1, 2)
        return torch.cat([cls, frames], dim=1)
