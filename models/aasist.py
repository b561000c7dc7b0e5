"""AASIST (Jung et al., ICASSP 2022; github.com/clovaai/aasist, MIT licence) as an EBM backbone
(docs/method.md section 8d).

Raw waveform -> fixed sinc filter bank -> residual 2-D encoder -> spectral and temporal
graph attention -> two heterogeneous graph branches with master nodes -> a 5 x gat_dims[1]
(160) "last hidden" vector, which is the EBM embedding (one head, one centroid); AASIST's
own two-class output layer is kept so that their released weights load and can score
(`aasist_score=logit`). Parameter names follow their `models/AASIST.py`, under `aasist.`.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from models.backbone import Backbone
from models.ebm_detector import EBMDetector
from models.graph_attention import GraphAttentionLayer, GraphPool, HtrgGraphAttentionLayer
from models.sinc_conv import SincConv
from models.state_dict_check import state_dict_mismatch
from utils.config import ConfigError, require
from utils.safe_load import torch_load


class ResidualBlock(nn.Module):
    """x (B, C_in, S, T) -> (B, C_out, S, T // 3): conv (2x3) - BN - SELU - conv (2x3), plus
    the input (through a 1x3 conv when the channels change), then max-pooling (1, 3) in time.

    QUIRK:aasist-unused-bn1: in every block but the first, AASIST computes SELU(bn1(x)) and
    then feeds the block input, not that result, to conv1; bn1 only updates its running
    statistics. Reproduced: bn1 runs in training mode and its output is discarded.
    """

    def __init__(self, in_channels: int, out_channels: int, first: bool = False):
        super().__init__()
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=(2, 3), padding=(1, 1))
        self.selu = nn.SELU()
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=(2, 3), padding=(0, 1))
        self.downsample = in_channels != out_channels
        if self.downsample:
            self.conv_downsample = nn.Conv2d(in_channels, out_channels, kernel_size=(1, 3), padding=(0, 1))
        self.mp = nn.MaxPool2d((1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.first and self.training:
            self.bn1(x)
        out = self.conv2(self.selu(self.bn2(self.conv1(x))))
        identity = self.conv_downsample(x) if self.downsample else x
        return self.mp(out + identity)


class AASISTNet(nn.Module):
    """AASIST: wave (B, N) -> (last hidden (B, 5 * gat_dims[1]), logits (B, 2)); logit 1 = bona fide.

    channels: output channels of the first four residual blocks (the last two repeat the
    fourth); AASIST [32, 32, 64, 64], AASIST-L [32, 32, 24, 24] (their `filts[1:]`).
    gat_dims: widths of the graph attention and heterogeneous layers ([64, 32]; L [24, 32]).
    pool_ratios: node shares kept by the spectral, temporal and heterogeneous pooling
    ([0.5, 0.7, 0.5]; L [0.4, 0.5, 0.7]; their fourth entry is never read).
    temperatures: of the spectral, temporal and heterogeneous attention ([2, 2, 100]).
    sinc_filters (70) and first_conv (128, made odd) shape the front end; the spectral
    graph has sinc_filters // 3 nodes (23), each with a learned position (`pos_S`).
    """

    def __init__(self, channels: Sequence[int] = (32, 32, 64, 64), gat_dims: Sequence[int] = (64, 32),
                 pool_ratios: Sequence[float] = (0.5, 0.7, 0.5), temperatures: Sequence[float] = (2.0, 2.0, 100.0),
                 sinc_filters: int = 70, first_conv: int = 128, sample_rate: int = 16000):
        super().__init__()
        self.conv_time = SincConv(sinc_filters, first_conv, sample_rate)
        self.first_bn = nn.BatchNorm2d(1)
        self.drop = nn.Dropout(0.5)
        self.drop_way = nn.Dropout(0.2)
        self.selu = nn.SELU()
        # each block in a Sequential of its own, as theirs, so that the names are encoder.<k>.0.*
        widths = [1, *channels, channels[-1], channels[-1]]
        self.encoder = nn.Sequential(*(nn.Sequential(ResidualBlock(widths[k], widths[k + 1], first=k == 0))
                                       for k in range(6)))
        width = widths[-1]
        self.pos_S = nn.Parameter(torch.randn(1, sinc_filters // 3, width))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))
        self.GAT_layer_S = GraphAttentionLayer(width, gat_dims[0], temperatures[0])
        self.GAT_layer_T = GraphAttentionLayer(width, gat_dims[0], temperatures[1])
        self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(gat_dims[0], gat_dims[1], temperatures[2])
        self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(gat_dims[1], gat_dims[1], temperatures[2])
        self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(gat_dims[0], gat_dims[1], temperatures[2])
        self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(gat_dims[1], gat_dims[1], temperatures[2])
        self.pool_S = GraphPool(pool_ratios[0], gat_dims[0], 0.3)
        self.pool_T = GraphPool(pool_ratios[1], gat_dims[0], 0.3)
        self.pool_hS1 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hT1 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hS2 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hT2 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.embedding_size = 5 * gat_dims[1]
        self.out_layer = nn.Linear(self.embedding_size, 2)

    @staticmethod
    def _branch(first: HtrgGraphAttentionLayer, second: HtrgGraphAttentionLayer, pool_s: GraphPool,
                pool_t: GraphPool, master: torch.Tensor, nodes_t: torch.Tensor,
                nodes_s: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One heterogeneous branch: a layer, pooling, a second layer added as a residual."""
        nodes_t, nodes_s, master = first(nodes_t, nodes_s, master=master)
        nodes_s, nodes_t = pool_s(nodes_s), pool_t(nodes_t)
        aug_t, aug_s, aug_master = second(nodes_t, nodes_s, master=master)
        return nodes_t + aug_t, nodes_s + aug_s, master + aug_master

    def forward(self, wave: torch.Tensor, freq_aug: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.conv_time(wave.unsqueeze(1), mask=freq_aug).unsqueeze(1)   # (B, 1, filters, N')
        x = self.selu(self.first_bn(F.max_pool2d(x.abs(), (3, 3))))
        e = self.encoder(x).abs()                                          # (B, C, S, T)
        nodes_s = self.pool_S(self.GAT_layer_S(e.amax(dim=3).transpose(1, 2) + self.pos_S))
        nodes_t = self.pool_T(self.GAT_layer_T(e.amax(dim=2).transpose(1, 2)))
        # the learned master nodes enter unexpanded (1, 1, D): broadcasting does the rest
        t1, s1, m1 = self._branch(self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hS1, self.pool_hT1,
                                  self.master1, nodes_t, nodes_s)
        t2, s2, m2 = self._branch(self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hS2, self.pool_hT2,
                                  self.master2, nodes_t, nodes_s)
        t1, t2, s1, s2, m1, m2 = (self.drop_way(x) for x in (t1, t2, s1, s2, m1, m2))  # their order of draws
        out_t, out_s, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        hidden = torch.cat([out_t.abs().amax(dim=1), out_t.mean(dim=1), out_s.abs().amax(dim=1), out_s.mean(dim=1),
                            master.squeeze(1)], dim=1)
        # QUIRK:aasist-hidden-after-dropout: their in-place dropout makes the returned last hidden layer the
        # dropped-out one in training mode; it is the embedding EBM trains.
        hidden = self.drop(hidden)
        return hidden, self.out_layer(hidden)


class AASISTDetector(EBMDetector):
    """wave (B, N) -> [last hidden (B, 160)]: AASIST with one EBM head.

    score_with 'cosine' (EBM): the cosine of the embedding to the centroid; 'logit': AASIST's
    own bona fide logit, output[:, 1], as their code scores (for weights trained their way).
    Their output layer is never trained here (EBM has no loss on it).
    """

    def __init__(self, aasist: AASISTNet, score_with: str = 'cosine', freq_aug: bool = False):
        super().__init__()
        if score_with not in ('cosine', 'logit'):
            raise ValueError(f"score_with must be 'cosine' or 'logit', got {score_with!r}")
        self.aasist = aasist
        self.score_with, self.freq_aug = score_with, freq_aug
        self.aasist.out_layer.requires_grad_(False)
        self.init_centroids([aasist.embedding_size])

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """The raw waveform (B, N): the sinc filters are part of the model."""
        return wave

    def forward(self, features: torch.Tensor) -> List[torch.Tensor]:
        return [self.aasist(features, freq_aug=self.freq_aug and self.training)[0]]

    def always_frozen(self) -> List[nn.Parameter]:
        return list(self.aasist.out_layer.parameters())

    def fine_tune_prefixes(self, scope: str) -> Tuple[str, ...]:
        """'heads': the centroid (the embedding is AASIST's last hidden layer); 'last_block': with
        the second heterogeneous graph layer of both branches and its pooling."""
        heads = ('centroids.',)
        if scope == 'heads':
            return heads
        return heads + ('aasist.HtrgGAT_layer_ST12.', 'aasist.HtrgGAT_layer_ST22.', 'aasist.pool_hS2.',
                        'aasist.pool_hT2.')

    def scores_from_features(self, features: torch.Tensor) -> torch.Tensor:
        if self.score_with == 'logit':
            return self.aasist(features)[1][:, 1]
        return super().scores_from_features(features)


class AASISTLoadError(RuntimeError):
    """A weight file does not fit the AASIST configured; the message names the keys."""


def load_aasist_weights(detector: AASISTDetector, path: str) -> None:
    """Load a state dict saved by clovaai/aasist (`torch.save(model.state_dict())`, as their
    released models/weights/AASIST.pth and AASIST-L.pth) into `detector.aasist`. A missing
    or unexpected key or a shape that differs is named before anything is changed."""
    try:
        state = torch_load(path)
    except Exception as error:  # missing, truncated, not a torch file: named, whatever the reason
        raise AASISTLoadError(f"cannot read the AASIST weights {path}: {error}") from None
    if not isinstance(state, dict):
        raise AASISTLoadError(f"{path} holds a {type(state).__name__}, not a state dict")
    consume_prefix_in_state_dict_if_present(state, 'module.')
    problem = state_dict_mismatch(detector.aasist.state_dict(), state, path, 'the configured AASIST')
    if problem:
        raise AASISTLoadError(problem + _shape_hint(state))
    detector.aasist.load_state_dict(state)


# Their published configurations, by the shapes their weights have.
_PUBLISHED = {
    ((32, 32, 64, 64), (64, 32)): ('AASIST', (0.5, 0.7, 0.5)),
    ((32, 32, 24, 24), (24, 32)): ('AASIST-L', (0.4, 0.5, 0.7)),
}


def _shape_hint(state: dict) -> str:
    """The aasist_* settings a state dict of AASIST's layout was trained with, as far as its shapes tell."""
    try:
        channels = tuple(int(state[f'encoder.{k}.0.conv2.weight'].shape[0]) for k in range(4))
        gat_dims = (int(state['GAT_layer_S.proj_with_att.weight'].shape[0]),
                    int(state['HtrgGAT_layer_ST11.proj_with_att.weight'].shape[0]))
        sinc_filters = 3 * int(state['pos_S'].shape[1])
    except (KeyError, IndexError):
        return ''
    hint = f"; its shapes are those of aasist_channels={list(channels)} aasist_gat_dims={list(gat_dims)}"
    if sinc_filters != 69:
        hint += f" aasist_sinc_filters={sinc_filters} (or up to 2 more)"
    name, ratios = _PUBLISHED.get((channels, gat_dims), (None, None))
    if name:
        hint += f" ({name}; its published aasist_pool_ratios={list(ratios)})"
    return hint.replace(', ', ',')


def build_aasist_detector(aasist_channels: Sequence[int] = (32, 32, 64, 64), aasist_gat_dims: Sequence[int] = (64, 32),
                          aasist_pool_ratios: Sequence[float] = (0.5, 0.7, 0.5),
                          aasist_temperatures: Sequence[float] = (2.0, 2.0, 100.0), aasist_sinc_filters: int = 70,
                          aasist_first_conv: int = 128, sample_rate: int = 16000,
                          aasist_checkpoint: Optional[str] = None, aasist_score: str = 'cosine',
                          aasist_freq_aug: bool = False) -> AASISTDetector:
    """AASIST with one EBM head; every argument is the configuration key of that name.
    With `aasist_checkpoint` (their .pth) its weights are loaded."""
    detector = AASISTDetector(AASISTNet(aasist_channels, aasist_gat_dims, aasist_pool_ratios, aasist_temperatures,
                                        aasist_sinc_filters, aasist_first_conv, sample_rate),
                              aasist_score, aasist_freq_aug)
    if aasist_checkpoint:
        load_aasist_weights(detector, aasist_checkpoint)
    return detector


def check_aasist(args: dict) -> None:
    """The rules of the aasist_* keys."""
    for key, length in (('aasist_channels', 4), ('aasist_gat_dims', 2), ('aasist_pool_ratios', 3),
                        ('aasist_temperatures', 3)):
        require(len(args[key]) == length, key, f"must have {length} entries", args[key])
    require(all(c >= 1 for c in args['aasist_channels'] + args['aasist_gat_dims']), 'aasist_channels',
            'channels and aasist_gat_dims must be >= 1', args['aasist_channels'])
    require(args['aasist_sinc_filters'] >= 3, 'aasist_sinc_filters', 'must be >= 3 (three filters per spectral '
            'node)', args['aasist_sinc_filters'])


def preflight_aasist(args: dict) -> None:
    """Their weights are read and fitted before any process starts; their own score is for evaluation."""
    if args['aasist_score'] == 'logit' and not args['TEST']:
        raise ConfigError("aasist_score='logit': AASIST's own output layer is not trained by EBM; score with it "
                          "in evaluation (TEST=True, tools.infer) and train with aasist_score=cosine")
    if args['aasist_checkpoint']:
        try:
            build_aasist_detector(**{key: args[key] for key in AASIST.keys()})
        except AASISTLoadError as error:
            raise ConfigError(f"aasist_checkpoint={args['aasist_checkpoint']!r}: {error}") from None


AASIST = Backbone(
    build=build_aasist_detector,
    num_heads=lambda args: 1,
    summary="AASIST (clovaai/aasist): sinc front end, residual encoder, spectro-temporal graph attention; "
            "its last hidden layer is the embedding, one head",
    input='the raw waveform',
    weights='trained from scratch, or initialised from the released AASIST.pth / AASIST-L.pth (aasist_checkpoint)',
    check=check_aasist,
    preflight=preflight_aasist,
    import_weights=load_aasist_weights,
    demo=('aasist_channels=[8,8,16,16]',),   # a quarter of the width: minutes on a CPU
    min_frames=15,         # the encoder's poolings need at least one position each
    # graph pooling keeps int(N * k) nodes of a graph whose N follows the input's length:
    # torch.export carries that count symbolically and took 6 minutes on two cores; the
    # TorchScript-based exporter scripts it (models/graph_attention.py) in seconds
    onnx_exporter='torchscript',
)
