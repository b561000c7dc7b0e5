"""Weight-normalised 1-D convolutions with the parameter names of torch.nn.utils.weight_norm
(weight_g, weight_v), so checkpoints saved with weight norm load directly."""
import torch
from torch import nn
from torch.nn import functional as F


class WeightNormConv1d(nn.Module):
    """Conv1d (or ConvTranspose1d with transposed=True) whose weight is g * v / ||v||,
    the norm taken per output (per input for transposed) channel over the other dims."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, transposed: bool = False, init_std: float = 0.01):
        super().__init__()
        shape = (in_channels, out_channels, kernel_size) if transposed else (out_channels, in_channels, kernel_size)
        self.weight_v = nn.Parameter(torch.randn(shape) * init_std)
        self.weight_g = nn.Parameter(self.weight_v.detach().norm(dim=(1, 2), keepdim=True).clone())
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.stride, self.padding, self.dilation, self.transposed = stride, padding, dilation, transposed

    def weight(self) -> torch.Tensor:
        return self.weight_g * self.weight_v / self.weight_v.norm(dim=(1, 2), keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding)
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)
