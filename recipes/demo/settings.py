"""`python3 main.py --demo`: the generated corpus and a short CPU schedule."""
import os
from typing import List, Sequence

from recipes.demo.corpus import make_demo_corpus
from models.registry import BACKBONES
from utils.config import last_override
from utils.run_folder import first_free_name, training_run_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CACHE = os.path.join(REPO, '.cache', 'demo_corpus')

# Two short epochs on 1.5 s crops with evaluation after each; the learning rate is
# raised so that so few steps show learning (the published 1e-6 is for 150 epochs).
# The two evaluated checkpoints are also averaged, to show that row of the final table.
# Everything else, augmentation included, is the published configuration.
DEMO_SETTINGS = [
    'name=demo', 'tags=[demo]', 'epoch=2', 'eval_from_epoch=1', 'eval_every=1', 'batch_size=12',
    'ratio_bona=0.25', 'ratio_spoof=0.75', 'num_train_frames=154', 'num_train_frames_short=103',
    'num_test_frames=154', 'lr=0.001', 'lr_min=0.00001', 'T_0=2', 'num_workers=2', 'world_size=1',
    'average_last=2',
]


def demo_overrides(cache: str = DEMO_CACHE, user_overrides: Sequence[str] = ()) -> List[str]:
    """Build the demo corpus once under `cache`; return the key=value overrides of the demo
    run (the user's overrides come after these and win). A backbone named on the command
    line adds the overrides its registry entry gives the demo (for ssl_bridge a tiny
    random wav2vec 2.0 built in process instead of XLS-R) and runs as `demo_<backbone>`."""
    marker = os.path.join(cache, '.complete')
    if not os.path.isfile(marker):
        print(f"building the demo corpus in {cache} (once) ...", flush=True)
        roots = make_demo_corpus(cache)
        with open(marker, 'w') as handle:
            handle.write('\n'.join(f"{k}={v}" for k, v in roots.items()))
    with open(marker) as handle:
        paths = handle.read().split()
    chosen = last_override(user_overrides, 'backbone')
    backbone = []
    if chosen in BACKBONES:  # an unknown name is reported by the configuration check
        backbone = list(BACKBONES[chosen].demo) + [f'name=demo_{chosen}']
    return paths + [f"path_log={os.path.join(REPO, 'results')}"] + DEMO_SETTINGS + backbone


def number_the_demo_run(args: dict, user_overrides: Sequence[str]) -> dict:
    """A repeated demo starts afresh in demo_2, demo_3, ... beside the earlier ones (a run
    folder never holds two runs); not when the command line names the run (name=) or resumes."""
    if last_override(user_overrides, 'name') is not None or args['TEST'] or args['resume']:
        return args
    name = first_free_name(args)
    if name != args['name']:
        print(f"the earlier demo run stays in {training_run_dir(args)}; this one writes to "
              f"{training_run_dir(dict(args, name=name))}", flush=True)
    return dict(args, name=name)
