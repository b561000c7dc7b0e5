"""A registry entry: what the configuration, the pre-flight check, checkpoints and the tools
know of one backbone (the table of entries is `models/registry.py`)."""
import inspect
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from models.ebm_detector import EBMDetector
from utils.config import keyword_args


def _no_check(args: dict) -> None:
    """Nothing to check."""


@dataclass(frozen=True)
class Backbone:
    """How to build one kind of detector from the configuration, and what else needs to know of it.

    build:          factory whose keyword arguments are named after configuration keys
                    (torchaudio style); those parameters are the keys the backbone reads.
    num_heads:      args -> heads (and centroids, and `loss_weight` entries).
    summary, input, weights: one line each for the docs table and messages.
    check:          args -> None; the rules relating the keys it reads (raise ConfigError).
    preflight:      args -> None; checks that read files (checkpoint shapes), run before
                    any process starts.
    import_weights: (detector, path, **options) -> None; loads another codebase's weight
                    files (`python3 -m tools.import_release`), or None.
    demo:           key=value overrides `python3 main.py --demo` needs for this backbone.
    benchmark:      key=value overrides that build its published size without downloading
                    anything (`python3 -m benchmarks.bench_model`).
    min_frames:     the shortest crop, in frames of `hop` samples (samples = frames x hop - 40),
                    that the default configuration scores (a shorter one fails in a pooling or
                    a convolution, or leaves one frame for a standard deviation).
    onnx_exporter:  'dynamo' (torch.export) or 'torchscript' (torch's TorchScript-based
                    exporter, for a graph whose symbolic shapes torch.export takes minutes over).
    """
    build: Callable[..., EBMDetector]
    num_heads: Callable[[dict], int]
    summary: str
    input: str
    weights: str
    check: Callable[[dict], None] = _no_check
    preflight: Callable[[dict], None] = _no_check
    import_weights: Optional[Callable[..., None]] = None
    demo: Tuple[str, ...] = field(default_factory=tuple)
    benchmark: Tuple[str, ...] = field(default_factory=tuple)
    min_frames: int = 1
    onnx_exporter: str = 'dynamo'

    def keys(self) -> List[str]:
        """The configuration keys the detector is built from (the factory's parameters)."""
        return list(inspect.signature(self.build).parameters)

    def build_detector(self, args: dict) -> EBMDetector:
        detector = self.build(**keyword_args(args, self.build))
        if not isinstance(detector, EBMDetector):
            raise TypeError(f"backbone {args['backbone']!r}: {self.build.__qualname__} returned a "
                            f"{type(detector).__name__}, which is not an EBMDetector")
        return detector
