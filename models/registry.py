"""The backbones, by the name the `backbone` key gives them: one line each.

Everything that depends on the backbone (the head count and the rules of its keys in
arguments.py, the pre-flight check, checkpoints, TEST, tools.infer, tools.import_release,
the demo and the docs table) reads this table; docs/method.md section 8c walks through
adding one.
"""
from typing import Dict, List

from models.aasist import AASIST
from models.backbone import Backbone
from models.bridge import SSL_BRIDGE
from models.ebm_detector import EBMDetector
from models.hm_conformer_detector import HM_CONFORMER
from utils.config import ConfigError

BACKBONES: Dict[str, Backbone] = {
    'hm_conformer': HM_CONFORMER,
    'ssl_bridge': SSL_BRIDGE,
    'aasist': AASIST,
}


def register_backbone(name: str, backbone: Backbone) -> None:
    """Add a backbone under `name` (a plug-in, or a test's toy backbone)."""
    if not isinstance(backbone, Backbone):
        raise TypeError(f"backbone {name!r}: expected a models.backbone.Backbone, got {type(backbone).__name__}")
    BACKBONES[name] = backbone


def backbone_names() -> List[str]:
    return list(BACKBONES)


def get_backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ConfigError(f"backbone={name!r}: must be one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


def build_detector(args: dict) -> EBMDetector:
    """The detector of `args['backbone']`, built from the keys its factory names."""
    return get_backbone(args['backbone']).build_detector(args)


def detector_keys(args: dict) -> List[str]:
    """The configuration keys the detector's shapes are built from (named when a checkpoint does not fit)."""
    return sorted({'backbone', *get_backbone(args['backbone']).keys()})


def shortest_input(args: dict) -> int:
    """The fewest samples the chosen backbone accepts (its shortest input, min_frames frames)."""
    return get_backbone(args['backbone']).min_frames * args['hop'] - 40
