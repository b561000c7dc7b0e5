"""Average the parameters and BatchNorm statistics of several checkpoints of one model.

    python3 -m tools.average_checkpoints A.pt B.pt ... --out C.pt [--allow-different KEY,...] [--trust]

The result is a model-only checkpoint (configuration and epoch of the last input). It
holds no decision threshold: `python3 main.py TEST=True checkpoint=C.pt` evaluates it
and writes, in its evaluation folder, models/selected.pt with the threshold and the
calibration of its development scores; or give `tools.infer --threshold`. Checkpoints
trained with different settings (anything but the seed and the run's name) are refused,
naming the keys, unless --allow-different names them. --out must not be one of the inputs.
"""
import argparse
import sys

from evaluation.checkpoint_averaging import average_checkpoints
from utils.atomic import WriteFailed, atomic_torch_save
from utils.checkpoint_file import CheckpointError, checkpoint_file
from utils.output_paths import OutputPathError, check_output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--out', required=True)
    parser.add_argument('--allow-different', default='',
                        help='configuration keys in which the checkpoints may differ, comma-separated')
    parser.add_argument('--trust', action='store_true',
                        help='load checkpoints that need more than weights (they can run code: only files you trust)')
    options = parser.parse_args(argv)
    allowed = [key.strip() for key in options.allow_different.split(',') if key.strip()]
    try:
        check_output(options.out, [checkpoint_file(path) for path in options.checkpoints])
        averaged = average_checkpoints(options.checkpoints, allowed, options.trust)
        atomic_torch_save(averaged, options.out)
    except (CheckpointError, OutputPathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except WriteFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{options.out}: the mean of {len(options.checkpoints)} checkpoints "
          f"(epochs {', '.join(str(e) for e in averaged['averaged_epochs'])})"
          + (f"; settings that differed ({', '.join(allowed)}) are the last input's" if allowed else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
