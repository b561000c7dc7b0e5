"""Turn the HM-Conformer authors' released parameter files into a checkpoint of this
repository, which `python3 main.py TEST=True checkpoint=OUT` evaluates and
`python3 -m tools.infer --checkpoint OUT` uses.

    python3 -m tools.import_release --release DIR [--tag DF] [--epoch 20] --out OUT.pt
                                    [--threshold T] [key=value ...]

DIR holds check_point_<tag>_{frontend,backend0..4,loss0..4}_<epoch>.pt (their layout);
key=value overrides describe the model when it differs from arguments.py. The
checkpoint stores the configuration and, when given, a decision threshold.
"""
import argparse
import sys

from arguments import get_args
from models.release import ReleaseLoadError
from trainer.build import build_detector
from utils.atomic import atomic_torch_save
from utils.config import ConfigError
from utils.secrets import redact


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--release', required=True, help='folder of the released .pt files')
    parser.add_argument('--tag', default='DF', help="the files' tag (check_point_<tag>_...)")
    parser.add_argument('--epoch', type=int, default=20, help="the files' epoch (..._<epoch>.pt)")
    parser.add_argument('--out', required=True, help='checkpoint to write')
    parser.add_argument('--threshold', type=float, help='decision threshold to store (score > T is bona fide)')
    parser.add_argument('overrides', nargs='*', help='key=value settings of the model')
    options = parser.parse_args(argv)
    try:
        args = get_args(options.overrides)[0]
        detector = build_detector(args)
        loaded = detector.load_hm_conformer_release(options.release, options.tag, options.epoch)
    except (ConfigError, ReleaseLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    atomic_torch_save({'model': detector.state_dict(), 'epoch': options.epoch, 'args': redact(args),
                       'threshold': options.threshold}, options.out)
    print(f"{len(loaded)} release files -> {options.out}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
