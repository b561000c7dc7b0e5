"""The sets of an EBM run, read and checked before training (docs/method.md section 3)."""
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from data.protocol import (ASV5_PROTOCOLS, DF21_PROTOCOL, ITW_META, LA19_ASV_EVAL_SCORES, LA19_VOCODED, LA21_PROTOCOL, Trial,
                           protocol_2019_path, read_asvspoof2019, read_asvspoof2021_df, read_asvspoof2021_la,
                           read_asvspoof5, read_in_the_wild, summary, vocoded_copies)
from data.validation import check_audio, check_protocol, check_readable, check_root, check_trials


@dataclass(frozen=True)
class EvalSet:
    title: str                              # how messages name it
    key: str                                # the configuration key of its root
    layout: str                             # its entry in data.validation.LAYOUTS
    read: Callable[[str], List[Trial]]      # root -> trials
    protocol: Callable[[str], str]          # root -> protocol path
    asv_scores: Optional[str] = None        # the official ASV scores under the root (for the min t-DCF)


EVAL_SETS = {
    '19LA': EvalSet('19LA eval', 'path_19LA', '19LA', lambda root: read_asvspoof2019(root, 'eval'),
                    lambda root: protocol_2019_path(root, 'eval'), LA19_ASV_EVAL_SCORES),
    '21LA': EvalSet('21LA eval', 'path_21LA', '21LA', read_asvspoof2021_la, lambda root: os.path.join(root, LA21_PROTOCOL)),
    '21DF': EvalSet('21DF eval', 'path_21DF', '21DF', read_asvspoof2021_df, lambda root: os.path.join(root, DF21_PROTOCOL)),
    'ITW': EvalSet('In-the-Wild', 'path_ITW', 'ITW', read_in_the_wild, lambda root: os.path.join(root, ITW_META)),
    'ASV5dev': EvalSet('ASVspoof 5 dev', 'path_ASV5', 'ASV5', lambda root: read_asvspoof5(root, 'dev'),
                       lambda root: os.path.join(root, ASV5_PROTOCOLS['dev'])),
    'ASV5eval': EvalSet('ASVspoof 5 eval', 'path_ASV5', 'ASV5', lambda root: read_asvspoof5(root, 'eval'),
                        lambda root: os.path.join(root, ASV5_PROTOCOLS['eval'])),
}

# development sets a calibration can be fitted on (`calibration_set`)
CALIBRATION_SETS = {
    '19LA_dev': EvalSet('19LA dev (calibration)', 'path_19LA', '19LA', lambda root: read_asvspoof2019(root, 'dev'),
                        lambda root: protocol_2019_path(root, 'dev')),
}


def training_trials(args: dict, log: Callable[[str], None] = print) -> List[Trial]:
    """19LA train rows, plus the HiFi-GAN copies of its spoof rows when their folder exists."""
    root = args['path_19LA']
    check_root('19LA', root, 'path_19LA')
    check_protocol('19LA', protocol_2019_path(root, 'train'))
    trials = read_asvspoof2019(root, 'train')
    check_trials('19LA train', trials, protocol_2019_path(root, 'train'))
    check_audio('19LA train', trials, '19LA')
    check_readable('19LA train', trials, args['preflight_decode'])
    log(summary('19LA train', trials))
    folder = os.path.join(root, LA19_VOCODED)
    if args['use_vocoder_copies'] and os.path.isdir(folder):
        copies = vocoded_copies(root, trials)
        check_audio('19LA train HiFi-GAN copies', copies, '19LA')
        check_readable('19LA train HiFi-GAN copies', copies, args['preflight_decode'])
        log(summary('19LA train HiFi-GAN copies', copies))
        trials = trials + copies
    elif args['use_vocoder_copies']:
        log(f"19LA train: no vocoded copies at {folder}; training without vocoder augmentation "
            f"(make them with python3 -m tools.vocode_hifigan)")
    return trials


def _read_set(spec: EvalSet, root: str, log: Callable[[str], None], decode: bool = False) -> List[Trial]:
    name = spec.title
    check_root(spec.layout, root, spec.key)
    check_protocol(spec.layout, spec.protocol(root))
    trials = spec.read(root)
    check_trials(name, trials, spec.protocol(root))
    check_audio(name, trials, spec.layout)
    check_readable(name, trials, decode)
    log(summary(name, trials))
    return trials


def evaluation_trials(args: dict, log: Callable[[str], None] = print) -> Dict[str, List[Trial]]:
    """{'19LA': ..., '21LA': ..., ...} for every set whose root is not None."""
    return {name: _read_set(spec, args[spec.key], log, args['preflight_decode'])
            for name, spec in EVAL_SETS.items() if args[spec.key] is not None}


def calibration_trials(args: dict, log: Callable[[str], None] = print) -> Optional[List[Trial]]:
    """The development set named by `calibration_set` (None: no calibration)."""
    name = args['calibration_set']
    if name is None:
        return None
    spec = CALIBRATION_SETS[name]
    return _read_set(spec, args[spec.key], log, args['preflight_decode'])


def asv_score_paths(args: dict) -> Dict[str, str]:
    """{set: the official ASV score file under its root} for the evaluation sets that have one
    (whether it exists is checked when the set is reported)."""
    return {name: os.path.join(args[spec.key], spec.asv_scores) for name, spec in EVAL_SETS.items()
            if spec.asv_scores is not None and args[spec.key] is not None}


def protocol_paths(args: dict) -> Dict[str, str]:
    """The protocol file of every set a run reads: 'train' (unless TEST), the calibration
    set under its name, and each evaluation set."""
    paths = {} if args['TEST'] else {'train': protocol_2019_path(args['path_19LA'], 'train')}
    if args['calibration_set'] is not None:
        spec = CALIBRATION_SETS[args['calibration_set']]
        paths[args['calibration_set']] = spec.protocol(args[spec.key])
    paths.update({name: spec.protocol(args[spec.key]) for name, spec in EVAL_SETS.items() if args[spec.key] is not None})
    return paths


@dataclass
class RunTrials:
    """What a run reads from disk: the training trials (None when only evaluating) and
    the evaluation sets. Read once, in the pre-flight check, and handed to the trainer."""
    train: Optional[List[Trial]]
    evaluation: Dict[str, List[Trial]]
    calibration: Optional[List[Trial]] = None

    def by_name(self, calibration_set: Optional[str]) -> Dict[str, List[Trial]]:
        """Every set read, as protocol_paths names them."""
        named = {} if self.train is None else {'train': self.train}
        if self.calibration is not None:
            named[calibration_set] = self.calibration
        return {**named, **self.evaluation}


def run_trials(args: dict, log: Callable[[str], None] = print) -> RunTrials:
    evaluation = evaluation_trials(args, log)
    calibration = calibration_trials(args, log)
    return RunTrials(None if args['TEST'] else training_trials(args, log), evaluation, calibration)
