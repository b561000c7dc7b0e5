"""Average the parameters and BatchNorm statistics of several checkpoints of one model.

    python3 -m tools.average_checkpoints A.pt B.pt ... --out C.pt

The result is a model-only checkpoint (configuration and epoch of the last input). It
holds no decision threshold: `python3 main.py TEST=True checkpoint=C.pt` evaluates it
and writes, in its evaluation folder, models/selected.pt with the threshold and the
calibration of its development scores; or give `tools.infer --threshold`.
"""
import argparse
import sys

from trainer.checkpoint import CheckpointError
from trainer.checkpoint_averaging import average_checkpoints
from utils.atomic import atomic_torch_save


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--out', required=True)
    options = parser.parse_args(argv)
    try:
        averaged = average_checkpoints(options.checkpoints)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    atomic_torch_save(averaged, options.out)
    print(f"{options.out}: the mean of {len(options.checkpoints)} checkpoints "
          f"(epochs {', '.join(str(e) for e in averaged['averaged_epochs'])})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
