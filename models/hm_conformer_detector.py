"""The EBM detector on HM-Conformer: LFCC, feature masking, HM-Conformer, the embedding heads
and their centroids (docs/method.md sections 7 and 8)."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from models.backbone import Backbone
from models.ebm_detector import EBMDetector
from models.feature_masking import FeatureMasking
from models.head import EmbeddingHead
from models.hm_conformer import HMConformer, num_heads
from models.lfcc import LFCC
from models.release import load_hm_conformer_release, save_hm_conformer_release
from utils.config import require


class HMConformerDetector(EBMDetector):
    """Waveform -> LFCC (masked in training mode) -> one (B, embedding_size) embedding per head.

    Heads 0..n_cls-1 take the CLS levels, head n_cls the attentive pooling of the frames,
    the last head the aggregated embedding.
    """

    def __init__(self, lfcc: LFCC, masking: FeatureMasking, frontend: HMConformer, embedding_size: int = 64):
        super().__init__()
        self.lfcc = lfcc
        self.masking = masking
        self.frontend = frontend
        self.backends = nn.ModuleList(EmbeddingHead(frontend.output_size, embedding_size)
                                      for _ in range(frontend.num_heads))
        self.init_centroids([embedding_size] * frontend.num_heads)

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, N) -> LFCC (B, 1 + N // hop, 3 * n_lfcc); masked in training mode."""
        return self.masking(self.lfcc(wave))

    def forward(self, features: torch.Tensor) -> List[torch.Tensor]:
        """features (B, T, 3 * n_lfcc) -> [(B, embedding_size)] * num_heads."""
        aggregated, levels = self.frontend(features)
        inputs = levels + [aggregated]
        return [head(x) for head, x in zip(self.backends, inputs)]

    def fine_tune_prefixes(self, scope: str) -> Tuple[str, ...]:
        """'heads': everything after the Conformer encoder (the level projections, the attentive
        pooling, the aggregation, the embedding heads, the centroids); 'last_block': with the
        encoder's last block and its final norm."""
        heads = tuple(f'frontend.{name}.' for name, _ in self.frontend.named_children() if name != 'conformer_mp') \
            + ('backends.', 'centroids.')
        if scope == 'heads':
            return heads
        last = len(self.frontend.conformer_mp.encoders) - 1
        return heads + (f'frontend.conformer_mp.encoders.{last}.', 'frontend.conformer_mp.after_norm.')

    def load_hm_conformer_release(self, directory: str, tag: str = 'DF', epoch: int = 20,
                                  parts=('frontend', 'backend', 'loss')) -> List[str]:
        """Load the authors' release files (see models/release.py); returns the paths loaded."""
        return load_hm_conformer_release(self, directory, tag, epoch, tuple(parts))

    def save_hm_conformer_release(self, directory: str, tag: str = 'DF', epoch: int = 20) -> List[str]:
        """Write the eleven files of the authors' release layout; returns their paths."""
        return save_hm_conformer_release(self, directory, tag, epoch)


def build_hm_conformer_detector(
        sample_rate: int = 16000, n_lfcc: int = 40, coef: float = 0.97, n_fft: int = 512, win_length: int = 320,
        hop: int = 160, lfcc_f_min: float = 0.0, lfcc_f_max: Optional[float] = None, mask_max: int = 20, mask_p: float = 1.0, mask_axis: str = 'time', output_size: int = 128,
        attention_heads: int = 4, linear_units: int = 256, num_blocks: int = 6, cnn_module_kernel: int = 15,
        downsample_layer: Sequence[int] = (1, 3), pooling_size: int = 2, encoder_dropout_rate: float = 0.1,
        dropout_rate: float = 0.35, embd_dropout_rate: float = 0.5,
        embedding_size: int = 64) -> HMConformerDetector:
    """The published detector; every argument is the configuration key of that name. The
    HM-Conformer's input size is the LFCC's output size, 3 x n_lfcc."""
    lfcc = LFCC(sample_rate, n_lfcc, coef, n_fft, win_length, hop, lfcc_f_min, lfcc_f_max)
    frontend = HMConformer(lfcc.output_size, output_size, attention_heads, linear_units, num_blocks,
                           cnn_module_kernel, list(downsample_layer), pooling_size, encoder_dropout_rate,
                           dropout_rate, embd_dropout_rate)
    return HMConformerDetector(lfcc, FeatureMasking(mask_max, mask_p, mask_axis), frontend, embedding_size)


def check_hm_conformer(args: dict) -> None:
    """The rules relating the HM-Conformer's keys."""
    require(args['win_length'] <= args['n_fft'], 'win_length', f"must be <= n_fft ({args['n_fft']})",
            args['win_length'])
    f_max = args['sample_rate'] / 2 if args['lfcc_f_max'] is None else args['lfcc_f_max']
    require(args['lfcc_f_min'] < f_max <= args['sample_rate'] / 2, 'lfcc_f_max', f"the LFCC band must satisfy "
            f"lfcc_f_min ({args['lfcc_f_min']}) < lfcc_f_max <= sample_rate / 2 ({args['sample_rate'] / 2:g})",
            args['lfcc_f_max'])
    require(args['output_size'] % args['attention_heads'] == 0, 'attention_heads',
            f"must divide output_size ({args['output_size']})", args['attention_heads'])
    require(args['cnn_module_kernel'] % 2 == 1, 'cnn_module_kernel', 'must be odd (same padding)',
            args['cnn_module_kernel'])
    layers = args['downsample_layer']
    require(layers == sorted(set(layers)) and all(0 <= i < args['num_blocks'] - 1 for i in layers),
            'downsample_layer', f"must be sorted distinct block indices in [0, num_blocks - 1) "
            f"(num_blocks={args['num_blocks']})", layers)


HM_CONFORMER = Backbone(
    build=build_hm_conformer_detector,
    num_heads=lambda args: num_heads(args['downsample_layer']),
    summary='LFCC + HM-Conformer, one head per CLS level, the pooled frames and the aggregate',
    input='LFCC with deltas, 3 x n_lfcc per 10 ms frame',
    weights="trained from scratch; the HM-Conformer authors' released DF files load (tools.import_release)",
    check=check_hm_conformer,
    import_weights=load_hm_conformer_release,
    min_frames=9,          # the max-poolings after blocks 1 and 3 need at least one frame each
)
