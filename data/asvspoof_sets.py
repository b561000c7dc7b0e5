"""The sets of an EBM run, read and checked before training (docs/method.md section 3)."""
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from data.protocol import (DF21_PROTOCOL, LA19_VOCODED, LA21_PROTOCOL, Trial, protocol_2019_path, read_asvspoof2019,
                           read_asvspoof2021_df, read_asvspoof2021_la, summary, vocoded_copies)
from data.validation import check_audio, check_protocol, check_readable, check_root, check_trials

EVAL_SETS = {
    '19LA': ('path_19LA', lambda root: read_asvspoof2019(root, 'eval'),
             lambda root: protocol_2019_path(root, 'eval')),
    '21LA': ('path_21LA', read_asvspoof2021_la, lambda root: os.path.join(root, LA21_PROTOCOL)),
    '21DF': ('path_21DF', read_asvspoof2021_df, lambda root: os.path.join(root, DF21_PROTOCOL)),
}


def training_trials(args: dict, log: Callable[[str], None] = print) -> List[Trial]:
    """19LA train rows, plus the HiFi-GAN copies of its spoof rows when their folder exists."""
    root = args['path_19LA']
    check_root('19LA', root, 'path_19LA')
    check_protocol('19LA', protocol_2019_path(root, 'train'))
    trials = read_asvspoof2019(root, 'train')
    check_trials('19LA train', trials, protocol_2019_path(root, 'train'))
    check_audio('19LA train', trials, '19LA')
    check_readable('19LA train', trials)
    log(summary('19LA train', trials))
    folder = os.path.join(root, LA19_VOCODED)
    if args['use_vocoder_copies'] and os.path.isdir(folder):
        copies = vocoded_copies(root, trials)
        check_audio('19LA train HiFi-GAN copies', copies, '19LA')
        check_readable('19LA train HiFi-GAN copies', copies)
        log(summary('19LA train HiFi-GAN copies', copies))
        trials = trials + copies
    elif args['use_vocoder_copies']:
        log(f"19LA train: no vocoded copies at {folder}; training without vocoder augmentation "
            f"(make them with python3 -m tools.vocode_hifigan)")
    return trials


def evaluation_trials(args: dict, log: Callable[[str], None] = print) -> Dict[str, List[Trial]]:
    """{'19LA': ..., '21LA': ..., '21DF': ...} for every set whose path is not None."""
    sets = {}
    for name, (key, read, protocol) in EVAL_SETS.items():
        root = args[key]
        if root is None:
            continue
        check_root(name, root, key)
        check_protocol(name, protocol(root))
        trials = read(root)
        check_trials(f"{name} eval", trials, protocol(root))
        check_audio(f"{name} eval", trials, name)
        check_readable(f"{name} eval", trials)
        log(summary(f"{name} eval", trials))
        sets[name] = trials
    return sets


@dataclass
class RunTrials:
    """What a run reads from disk: the training trials (None when only evaluating) and
    the evaluation sets. Read once, in the pre-flight check, and handed to the trainer."""
    train: Optional[List[Trial]]
    evaluation: Dict[str, List[Trial]]


def run_trials(args: dict, log: Callable[[str], None] = print) -> RunTrials:
    evaluation = evaluation_trials(args, log)
    return RunTrials(None if args['TEST'] else training_trials(args, log), evaluation)
