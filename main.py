"""Train (or evaluate) EBM on HM-Conformer (or another backbone of models/registry.py).

    CUDA_VISIBLE_DEVICES=0 python3 main.py                 one GPU
    CUDA_VISIBLE_DEVICES=0,1 python3 main.py               one DDP process per visible GPU
    python3 main.py epoch=3 path_19LA=/mnt/asv             override any key of arguments.py
    python3 main.py TEST=True checkpoint=PATH              evaluate a saved model
    python3 main.py --demo                                 the generated demo corpus, on CPU, in minutes
    python3 main.py --demo backbone=ssl_bridge             the same with a tiny random wav2vec 2.0 + bridge
    python3 main.py --demo backbone=aasist                 the same with AASIST
    python3 main.py -h | --help                            this text
"""
import sys

from arguments import get_args
from recipes.presets import describe_recipe
from trainer.launch import launch, preflight
from utils.errors import BadInput, RunFailed, original_message


def main(argv) -> int:
    flags = [item for item in argv if item.startswith('-') and '=' not in item]
    overrides = [item for item in argv if item not in flags]
    unknown = [flag for flag in flags if flag not in ('--demo', '--help', '-h')]
    if '--help' in flags or '-h' in flags or unknown:
        print(__doc__ if not unknown else f"unknown option {unknown[0]}; the options are --demo and key=value")
        return 0 if not unknown else 2
    run_overrides = overrides
    if '--demo' in flags:
        from recipes.demo.settings import demo_overrides, number_the_demo_run
        run_overrides = demo_overrides(user_overrides=overrides) + overrides
    try:
        args, _, _ = get_args(run_overrides)
        if '--demo' in flags:
            args = number_the_demo_run(args, overrides)
        if describe_recipe(args):
            print(describe_recipe(args), flush=True)
        checked = preflight(args)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        launch(checked)
    except RunFailed as error:      # maybe raised in a loader worker: its traceback is left out
        print(f"error: {original_message(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # Ctrl-C before training installed its handler (or after it finished)
        print("\ninterrupted before training started or after it ended; a run's checkpoints are as they were",
              file=sys.stderr)
        sys.exit(130)
