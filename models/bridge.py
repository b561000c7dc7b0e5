"""The authors' bridge classifier (their `B_Linear`) over the stacked hidden states of a
frozen wav2vec 2.0, and the detector built from the two (docs/method.md section 8b).

Parameter names follow the authors' classifier (bridge_module.*, AHP_ASP, linear,
layer_norm) so that their saved state dicts load (`load_ebm_classifier`).
"""
import contextlib
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from models.backbone import Backbone
from models.ebm_detector import EBMDetector
from models.ssl_frontend import SSLFrontEnd, load_ssl_frontend, ssl_shape
from models.state_dict_check import state_dict_mismatch
from utils.config import ConfigError, require
from utils.safe_load import UntrustedFile, torch_load


class BridgeFeedForward(nn.Module):
    """(B, T, H) -> (B, T, agg): Linear(H, agg), ReLU, Dropout(0.35), Linear(agg, agg)."""

    def __init__(self, hidden_size: int, agg_size: int, dropout_rate: float = 0.35):
        super().__init__()
        self.w_1 = nn.Linear(hidden_size, agg_size)
        self.w_2 = nn.Linear(agg_size, agg_size)
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.dropout(torch.relu(self.w_1(x))))


class AttentiveStatsPooling(nn.Module):
    """(B, T, D) -> (B, 2D): frames weighted by softmax over time of tanh(x @ w); the
    weighted sum and the standard deviation over time of the weighted frames.

    QUIRK:asp-noise: the authors add N(0, 1e-5) noise to the weighted frames before the
    standard deviation, in evaluation too, so scores vary in the sixth decimal."""

    def __init__(self, feature_dim: int, noise_std: float = 1e-5):
        super().__init__()
        self.mm_weights = nn.Parameter(torch.empty(1, feature_dim))
        nn.init.kaiming_uniform_(self.mm_weights)
        self.noise_std = noise_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attention = torch.softmax(torch.tanh(x @ self.mm_weights.t()), dim=1)   # (B, T, 1)
        weighted = x * attention
        noise = self.noise_std * torch.randn_like(weighted)
        return torch.cat([weighted.sum(dim=1), (weighted + noise).std(dim=1)], dim=1)


class BridgeModule(nn.Module):
    """(B, L, T, H) -> (B, T, agg): each layer squeezed (feed-forward, LayerNorm) and
    pooled; an attention over the L pooled vectors weighs the L squeezed sequences."""

    def __init__(self, num_layers: int, hidden_size: int, agg_size: int):
        super().__init__()
        self.squeeze_module_linears = nn.ModuleList(BridgeFeedForward(hidden_size, agg_size)
                                                    for _ in range(num_layers))
        self.squeeze_module_norms = nn.ModuleList(nn.LayerNorm(agg_size, eps=1e-12) for _ in range(num_layers))
        self.AHP_ASP = nn.ModuleList(AttentiveStatsPooling(agg_size) for _ in range(num_layers))
        self.AHP_W_att = nn.Parameter(torch.empty(1, 2 * agg_size))
        nn.init.kaiming_uniform_(self.AHP_W_att)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        squeezed = [norm(linear(states[:, i])) for i, (linear, norm)
                    in enumerate(zip(self.squeeze_module_linears, self.squeeze_module_norms))]
        pooled = torch.stack([pool(x) for pool, x in zip(self.AHP_ASP, squeezed)], dim=1)   # (B, L, 2 agg)
        weights = torch.softmax(torch.tanh(pooled @ self.AHP_W_att.t()), dim=1)            # (B, L, 1)
        return (torch.stack(squeezed, dim=1) * weights.unsqueeze(-1)).sum(dim=1)


class BridgeClassifier(nn.Module):
    """(B, L, T, H) -> (B, embedding_size): bridge, attentive statistics pooling,
    Linear(2 agg, embedding_size), LayerNorm."""

    def __init__(self, num_layers: int, hidden_size: int, agg_size: int = 128, embedding_size: int = 160):
        super().__init__()
        self.bridge_module = BridgeModule(num_layers, hidden_size, agg_size)
        self.AHP_ASP = AttentiveStatsPooling(agg_size)
        self.linear = nn.Linear(2 * agg_size, embedding_size)
        self.layer_norm = nn.LayerNorm(embedding_size, eps=1e-12)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(self.linear(self.AHP_ASP(self.bridge_module(states))))


class BridgeDetector(EBMDetector):
    """Waveform -> wav2vec 2.0 hidden states -> one embedding, with one centroid.

    `features(wave)` is the SSL front end: frozen, under no_grad, in eval mode and, on
    CUDA with `bf16`, in bfloat16 autocast. While the front end is frozen (epochs <=
    freeze_until_epoch) its weights stay out of the state dict: checkpoints hold the
    bridge and the centroid, and the SSL weights once trained.
    """

    def __init__(self, ssl: Optional[SSLFrontEnd], classifier: BridgeClassifier, freeze_until_epoch: int = 150,
                 bf16: bool = True):
        super().__init__()
        self.ssl = ssl
        self.classifier = classifier
        self.init_centroids([classifier.linear.out_features])
        self.freeze_until_epoch, self.bf16 = freeze_until_epoch, bf16
        self.ssl_trained = False
        self._freeze_ssl(True)

    def _freeze_ssl(self, frozen: bool) -> None:
        self.ssl_frozen = frozen
        if self.ssl is not None:
            self.ssl.requires_grad_(not frozen)
            self.ssl.train(self.training and not frozen)

    def start_epoch(self, epoch: int) -> None:
        """The authors train the front end only after epoch T_0 (with the defaults, never)."""
        self._freeze_ssl(epoch <= self.freeze_until_epoch)
        self.ssl_trained = self.ssl_trained or not self.ssl_frozen

    def always_frozen(self) -> List[nn.Parameter]:
        return list(self.ssl.parameters()) if self.ssl_frozen and self.ssl is not None else []

    def fine_tune_prefixes(self, scope: str) -> Tuple[str, ...]:
        """'heads': the classifier's last linear layer and the centroid; 'last_block': the whole
        bridge classifier."""
        return ('classifier.linear.', 'centroids.') if scope == 'heads' else ('classifier.', 'centroids.')

    def train(self, mode: bool = True) -> 'BridgeDetector':
        super().train(mode)
        if self.ssl is not None:
            self.ssl.train(mode and not self.ssl_frozen)
        return self

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, N) -> hidden states (B, L + 1, T, H), float32."""
        if self.ssl is None:
            raise RuntimeError('this bridge detector has no SSL front end: give it hidden states')
        autocast = torch.autocast('cuda', dtype=torch.bfloat16) if self.bf16 and wave.is_cuda \
            else contextlib.nullcontext()
        with torch.no_grad() if self.ssl_frozen else contextlib.nullcontext(), autocast:
            return self.ssl(wave).float()

    def forward(self, features: torch.Tensor) -> List[torch.Tensor]:
        """hidden states (B, L + 1, T, H) -> [(B, embedding_size)]."""
        return [self.classifier(features)]

    def state_dict(self, *args, **kwargs) -> Dict[str, torch.Tensor]:
        state = super().state_dict(*args, **kwargs)
        if not self.ssl_trained:
            prefix = kwargs.get('prefix', args[1] if len(args) > 1 else '')
            for key in [key for key in state if key.startswith(prefix + 'ssl.')]:
                del state[key]
        return state

    def load_state_dict(self, state: Dict[str, torch.Tensor], strict: bool = True, assign: bool = False):
        """A state without SSL weights keeps the front end loaded at build time."""
        state = dict(state)
        has_ssl = any(key.startswith('ssl.') for key in state)
        if not has_ssl and self.ssl is not None:
            state.update({f'ssl.{key}': value for key, value in self.ssl.state_dict().items()})
        self.ssl_trained = has_ssl
        return super().load_state_dict(state, strict=strict, assign=assign)

    def load_ebm_classifier(self, path: str) -> None:
        """Load the authors' saved classifier (see `load_ebm_classifier`)."""
        load_ebm_classifier(self, path)


class ClassifierLoadError(RuntimeError):
    """A classifier file saved by the authors' code does not fit the bridge detector."""


def load_ebm_classifier(detector: BridgeDetector, path: str) -> None:
    """Load a classifier state dict saved by the authors' code (their `B_Linear`, with or
    without the DDP prefix `module.`; `loss.weight` is the centroid) into `detector`."""
    try:
        state = torch_load(path)
    except UntrustedFile as error:
        raise ClassifierLoadError(str(error)) from None
    consume_prefix_in_state_dict_if_present(state, 'module.')
    ours = {('centroids.0' if key == 'loss.weight' else f'classifier.{key}'): value for key, value in state.items()}
    own = {key: value for key, value in detector.state_dict().items() if not key.startswith('ssl.')}
    problem = state_dict_mismatch(own, ours, path, 'the bridge detector')
    if problem:
        raise ClassifierLoadError(problem)
    if detector.ssl_trained:
        ours.update({key: value for key, value in detector.state_dict().items() if key.startswith('ssl.')})
    detector.load_state_dict(ours)


def build_bridge_detector(num_layers: int, hidden_size: int, agg_size: int = 128, embedding_size: int = 160,
                          ssl: Optional[SSLFrontEnd] = None, freeze_until_epoch: int = 150,
                          bf16: bool = True) -> BridgeDetector:
    """The bridge detector for `num_layers` hidden states of width `hidden_size`, over
    the front end `ssl` (without one, it takes hidden states only)."""
    if ssl is not None and (ssl.num_hidden_states, ssl.hidden_size) != (num_layers, hidden_size):
        raise ValueError(f"the SSL front end gives {ssl.num_hidden_states} hidden states of width {ssl.hidden_size}, "
                         f"the bridge expects {num_layers} of width {hidden_size}")
    return BridgeDetector(ssl, BridgeClassifier(num_layers, hidden_size, agg_size, embedding_size),
                          freeze_until_epoch, bf16)


def build_ssl_bridge_detector(ssl_checkpoint: str, ssl_num_hidden_states: Optional[int] = None,
                              ssl_hidden_size: Optional[int] = None, agg_size: int = 128,
                              bridge_embedding_size: int = 160, ssl_freeze_until_epoch: int = 150,
                              ssl_bf16: bool = True) -> BridgeDetector:
    """The journal configuration; every argument is the configuration key of that name. The
    bridge's input shape comes from the loaded front end; `ssl_num_hidden_states` and
    `ssl_hidden_size`, when set, must agree with it."""
    ssl = load_ssl_frontend(ssl_checkpoint)
    _check_shape(ssl_checkpoint, (ssl.num_hidden_states, ssl.hidden_size), ssl_num_hidden_states, ssl_hidden_size)
    return build_bridge_detector(ssl.num_hidden_states, ssl.hidden_size, agg_size, bridge_embedding_size, ssl,
                                 ssl_freeze_until_epoch, ssl_bf16)


def _check_shape(checkpoint: str, shape, num_hidden_states: Optional[int], hidden_size: Optional[int]) -> None:
    expected = (num_hidden_states or shape[0], hidden_size or shape[1])
    if expected != tuple(shape):
        raise ConfigError(f"ssl_num_hidden_states={num_hidden_states}, ssl_hidden_size={hidden_size}: {checkpoint} "
                          f"gives {shape[0]} hidden states of width {shape[1]}; set ssl_num_hidden_states={shape[0]} "
                          f"ssl_hidden_size={shape[1]} (or None to take them from the checkpoint)")


def check_ssl_bridge(args: dict) -> None:
    require(bool(args['ssl_checkpoint']), 'ssl_checkpoint', "backbone=ssl_bridge needs the wav2vec 2.0 weights: a "
            "Hugging Face folder, a torchaudio bundle or 'tiny-random'", args['ssl_checkpoint'])


def preflight_ssl_bridge(args: dict) -> None:
    """The front end's shape, read without loading its weights; training it in several processes is refused."""
    _check_shape(args['ssl_checkpoint'], ssl_shape(args['ssl_checkpoint']), args['ssl_num_hidden_states'],
                 args['ssl_hidden_size'])
    if args['ssl_freeze_until_epoch'] < args['epoch'] and max(torch.cuda.device_count(), args['world_size']) > 1:
        raise ConfigError(f"ssl_freeze_until_epoch={args['ssl_freeze_until_epoch']}: training the wav2vec 2.0 "
                          f"front end (epochs after it) is supported in one process only")


SSL_BRIDGE = Backbone(
    build=build_ssl_bridge_detector,
    num_heads=lambda args: 1,
    summary="frozen wav2vec 2.0 (XLS-R 300M) hidden states through the EBM authors' bridge classifier, one head",
    input='the stacked hidden states of wav2vec 2.0 on the raw waveform',
    weights='XLS-R 300M from Hugging Face or a torchaudio bundle (ssl_checkpoint); the EBM authors\' saved '
            'classifiers load (tools.import_release)',
    check=check_ssl_bridge,
    preflight=preflight_ssl_bridge,
    import_weights=load_ebm_classifier,
    demo=('ssl_checkpoint=tiny-random',),
    benchmark=('ssl_checkpoint=random:WAV2VEC2_XLSR_300M',),
    min_frames=5,          # two wav2vec 2.0 frames (400-sample field, stride 320) for the bridge's std
)
