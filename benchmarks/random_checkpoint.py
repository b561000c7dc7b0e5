"""The checkpoint a benchmark times when given none: the default HM-Conformer with random
weights (latency and the service's behaviour depend on the graph, not on the values)."""
import os

from arguments import get_args
from trainer.build import build_detector
from utils.atomic import atomic_torch_save


def random_checkpoint(folder: str) -> str:
    args = get_args()[0]
    path = os.path.join(folder, 'random.pt')
    atomic_torch_save({'model': build_detector(args).state_dict(), 'args': args, 'threshold': 0.0}, path)
    return path
