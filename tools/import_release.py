"""Turn another codebase's released weights into a checkpoint of this repository, which
`python3 main.py TEST=True checkpoint=OUT` evaluates and `python3 -m tools.infer
--checkpoint OUT` uses. What it reads is the backbone's (models/registry.py):

    python3 -m tools.import_release --release DIR [--tag DF] [--epoch 20] --out OUT.pt [key=value ...]
        the HM-Conformer authors' files check_point_<tag>_{frontend,backend0..4,loss0..4}_<epoch>.pt
    python3 -m tools.import_release --release AASIST.pth --out OUT.pt backbone=aasist
        [aasist_score=logit] [AASIST-L: aasist_channels=[32,32,24,24] aasist_gat_dims=[24,32] ...]
        clovaai/aasist's released state dicts (models/weights/AASIST.pth, AASIST-L.pth)
    python3 -m tools.import_release --release classifier.pt --out OUT.pt backbone=ssl_bridge
        ssl_checkpoint=DIR
        a bridge classifier saved by the EBM authors' code

key=value overrides describe the model when it differs from arguments.py. The
checkpoint stores the configuration and, when given, a decision threshold.
"""
import argparse
import inspect
import sys

from arguments import get_args
from models.aasist import AASISTLoadError
from models.bridge import ClassifierLoadError
from models.registry import get_backbone
from models.release import ReleaseLoadError
from models.ssl_frontend import SSLCheckpointError
from trainer.build import build_detector_for_checkpoint
from utils.atomic import atomic_torch_save
from utils.config import ConfigError
from utils.output_paths import OutputPathError, check_output
from utils.secrets import redact

LOAD_ERRORS = (ConfigError, ReleaseLoadError, AASISTLoadError, ClassifierLoadError, SSLCheckpointError,
               OutputPathError)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--release', required=True, help='the released file or folder')
    parser.add_argument('--tag', help="HM-Conformer release: the files' tag (check_point_<tag>_...; default DF)")
    parser.add_argument('--epoch', type=int, help="HM-Conformer release: the files' epoch (..._<epoch>.pt; "
                                                  "default 20)")
    parser.add_argument('--out', required=True, help='checkpoint to write')
    parser.add_argument('--threshold', type=float, help='decision threshold to store (score > T is bona fide)')
    parser.add_argument('overrides', nargs='*', help='key=value settings of the model')
    options = parser.parse_args(argv)
    try:
        check_output(options.out, [options.release])
        args = get_args(options.overrides)[0]
        backbone = get_backbone(args['backbone'])
        if backbone.import_weights is None:
            raise ConfigError(f"backbone={args['backbone']!r} has no importer of released weights")
        given = {name: value for name, value in (('tag', options.tag), ('epoch', options.epoch)) if value is not None}
        accepted = inspect.signature(backbone.import_weights).parameters
        unknown = [f'--{name}' for name in given if name not in accepted]
        if unknown:
            raise ConfigError(f"{' '.join(unknown)}: not an option of backbone={args['backbone']}'s release files")
        detector = build_detector_for_checkpoint(args)
        backbone.import_weights(detector, options.release, **given)
    except LOAD_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    atomic_torch_save({'model': detector.state_dict(), 'epoch': options.epoch or 0, 'args': redact(args),
                       'threshold': options.threshold}, options.out)
    print(f"{args['backbone']} weights {options.release} -> {options.out}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
