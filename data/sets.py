"""The sets of a run, by name or by path, read and checked before training (docs/method.md
section 3, docs/data.md).

Three keys name them: `train_set` ('19LA', 'ASV5', or a manifest / folder), `calibration_set`
(the development set: '19LA_dev', 'ASV5dev', a manifest / folder, or None) and `eval_sets`
(None: every ASVspoof set whose root is set, as before; or a list of names and paths). An
ASVspoof name reads its layout under its root key (path_19LA, ...); a path reads a manifest
(data/manifest.py), its rows of the role's split when it has a split column, or a folder of
bonafide/ and spoof/.
"""
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from data.manifest import LabelledSet, read_labelled, set_name
from data.protocol import (ASV5_PROTOCOLS, DF21_PROTOCOL, ITW_META, LA19_ASV_EVAL_SCORES, LA19_VOCODED, LA21_PROTOCOL,
                           Trial, protocol_2019_path, read_asvspoof2019, read_asvspoof2021_df, read_asvspoof2021_la,
                           read_asvspoof5, read_in_the_wild, summary, vocoded_copies)
from data.validation import check_audio, check_labelled_audio, check_protocol, check_readable, check_root, check_trials

Log = Callable[[str], None]


@dataclass(frozen=True)
class AsvspoofSet:
    title: str                              # how messages name it
    key: str                                # the configuration key of its root
    layout: str                             # its entry in data.validation.LAYOUTS
    read: Callable[[str], List[Trial]]      # root -> trials
    protocol: Callable[[str], str]          # root -> protocol path
    asv_scores: Optional[str] = None        # the official ASV scores under the root (for the min t-DCF)


EVAL_SETS = {
    '19LA': AsvspoofSet('19LA eval', 'path_19LA', '19LA', lambda root: read_asvspoof2019(root, 'eval'),
                        lambda root: protocol_2019_path(root, 'eval'), LA19_ASV_EVAL_SCORES),
    '21LA': AsvspoofSet('21LA eval', 'path_21LA', '21LA', read_asvspoof2021_la,
                        lambda root: os.path.join(root, LA21_PROTOCOL)),
    '21DF': AsvspoofSet('21DF eval', 'path_21DF', '21DF', read_asvspoof2021_df,
                        lambda root: os.path.join(root, DF21_PROTOCOL)),
    'ITW': AsvspoofSet('In-the-Wild', 'path_ITW', 'ITW', read_in_the_wild, lambda root: os.path.join(root, ITW_META)),
    'ASV5dev': AsvspoofSet('ASVspoof 5 dev', 'path_ASV5', 'ASV5', lambda root: read_asvspoof5(root, 'dev'),
                           lambda root: os.path.join(root, ASV5_PROTOCOLS['dev'])),
    'ASV5eval': AsvspoofSet('ASVspoof 5 eval', 'path_ASV5', 'ASV5', lambda root: read_asvspoof5(root, 'eval'),
                            lambda root: os.path.join(root, ASV5_PROTOCOLS['eval'])),
}

# development sets (`calibration_set`): the score-to-LLR calibration, the decision threshold and,
# with select_on=dev, the selection
CALIBRATION_SETS = {
    '19LA_dev': AsvspoofSet('19LA dev (calibration)', 'path_19LA', '19LA', lambda root: read_asvspoof2019(root, 'dev'),
                            lambda root: protocol_2019_path(root, 'dev')),
    'ASV5dev': AsvspoofSet('ASVspoof 5 dev (calibration)', 'path_ASV5', 'ASV5',
                           lambda root: read_asvspoof5(root, 'dev'),
                           lambda root: os.path.join(root, ASV5_PROTOCOLS['dev'])),
}

TRAINING_SETS = {
    '19LA': AsvspoofSet('19LA train', 'path_19LA', '19LA', lambda root: read_asvspoof2019(root, 'train'),
                        lambda root: protocol_2019_path(root, 'train')),
    'ASV5': AsvspoofSet('ASVspoof 5 train', 'path_ASV5', 'ASV5', lambda root: read_asvspoof5(root, 'train'),
                        lambda root: os.path.join(root, ASV5_PROTOCOLS['train'])),
}


def _set_file(path: str) -> str:
    """The file a manifest set is fingerprinted by (a folder has none)."""
    return path if os.path.isfile(path) else ''


@dataclass(frozen=True)
class Checks:
    """What the checks of a manifest or folder set need: the sample rate, the shortest file the
    backbone accepts, and whether to decode every file whole."""
    sample_rate: int
    min_samples: int
    decode: bool


def checks_of(args: dict, min_samples: int) -> Checks:
    return Checks(args['sample_rate'], max(1, min_samples), args['preflight_decode'])


def _read_labelled(title: str, path: str, split: str, checks: Checks, log: Log) -> LabelledSet:
    labelled = read_labelled(path, split)
    check_trials(title, labelled.trials, path)
    check_labelled_audio(title, labelled.trials + labelled.vocoded, checks.sample_rate, checks.min_samples,
                         checks.decode)
    log(summary(title, labelled.trials))
    return labelled


def _read_asvspoof(spec: AsvspoofSet, root: str, log: Log, decode: bool = False, needed_by: str = '') -> List[Trial]:
    name = spec.title
    check_root(spec.layout, root, spec.key, needed_by)
    check_protocol(spec.layout, spec.protocol(root))
    trials = spec.read(root)
    check_trials(name, trials, spec.protocol(root))
    check_audio(name, trials, spec.layout)
    check_readable(name, trials, decode)
    log(summary(name, trials))
    return trials


def _with_19la_copies(args: dict, trials: List[Trial], log: Log) -> List[Trial]:
    """The HiFi-GAN copies of the 2019 LA spoof training rows, when their folder exists."""
    root = args['path_19LA']
    folder = os.path.join(root, LA19_VOCODED)
    if args['use_vocoder_copies'] and os.path.isdir(folder):
        copies = vocoded_copies(root, trials)
        check_audio('19LA train HiFi-GAN copies', copies, '19LA')
        check_readable('19LA train HiFi-GAN copies', copies, args['preflight_decode'])
        log(summary('19LA train HiFi-GAN copies', copies))
        return trials + copies
    if args['use_vocoder_copies']:
        log(f"19LA train: no vocoded copies at {folder}; training without vocoder augmentation "
            f"(make them with python3 -m tools.vocode_hifigan)")
    return trials


def training_trials(args: dict, log: Log = print, min_samples: int = 1) -> List[Trial]:
    """The rows of `train_set`, then their vocoded copies (2019 LA: the HiFi-GAN folder when it
    exists; a manifest: its vocoded column) when use_vocoder_copies is set. A manifest's or
    folder's files must hold `min_samples` samples at least (the backbone's shortest input)."""
    value = args['train_set']
    if value in TRAINING_SETS:
        trials = _read_asvspoof(TRAINING_SETS[value], args[TRAINING_SETS[value].key], log, args['preflight_decode'],
                                f"train_set={value} (other data: train_set=MANIFEST_OR_FOLDER)")
        return _with_19la_copies(args, trials, log) if value == '19LA' else trials
    labelled = _read_labelled(f"{set_name(value)} (training)", value, 'train', checks_of(args, min_samples), log)
    if args['use_vocoder_copies'] and labelled.vocoded:
        log(summary(f"{set_name(value)} (training) vocoded copies", labelled.vocoded))
        return labelled.trials + labelled.vocoded
    return labelled.trials


def evaluation_sources(args: dict) -> Dict[str, str]:
    """{set name: ASVspoof name or path}: `eval_sets`, or with None every ASVspoof set whose root
    key is set."""
    if args['eval_sets'] is None:
        return {name: name for name, spec in EVAL_SETS.items() if args[spec.key] is not None}
    return {(value if value in EVAL_SETS else set_name(value)): value for value in args['eval_sets']}


def development_name(args: dict) -> Optional[str]:
    """The name the development set's reports and metrics carry: '19LA_dev', 'ASV5dev', or a
    manifest's or folder's name."""
    value = args['calibration_set']
    return value if value is None or value in CALIBRATION_SETS else set_name(value)


def evaluation_trials(args: dict, log: Log = print, min_samples: int = 1) -> Dict[str, List[Trial]]:
    checks = checks_of(args, min_samples)
    return {name: (_read_asvspoof(EVAL_SETS[value], args[EVAL_SETS[value].key], log, args['preflight_decode'])
                   if value in EVAL_SETS else _read_labelled(name, value, 'eval', checks, log).trials)
            for name, value in evaluation_sources(args).items()}


def calibration_trials(args: dict, log: Log = print, min_samples: int = 1) -> Optional[List[Trial]]:
    """The development set named by `calibration_set` (None: no calibration)."""
    value = args['calibration_set']
    if value is None:
        return None
    if value in CALIBRATION_SETS:
        spec = CALIBRATION_SETS[value]
        return _read_asvspoof(spec, args[spec.key], log, args['preflight_decode'],
                              f"calibration_set={value} (another development set: calibration_set=MANIFEST_OR_FOLDER "
                              f"select_on=dev; none: calibration_set=None select_on=None)")
    return _read_labelled(f"{development_name(args)} (development)", value, 'dev', checks_of(args, min_samples),
                          log).trials


def asv_score_paths(args: dict) -> Dict[str, str]:
    """{set: the official ASV score file under its root} for the evaluation sets that have one
    (whether it exists is checked when the set is reported)."""
    return {name: os.path.join(args[EVAL_SETS[value].key], EVAL_SETS[value].asv_scores)
            for name, value in evaluation_sources(args).items()
            if value in EVAL_SETS and EVAL_SETS[value].asv_scores is not None}


def protocol_paths(args: dict) -> Dict[str, str]:
    """The protocol or manifest file of every set a run reads ('' for a folder): 'train' (unless
    TEST), the development set under its name, and each evaluation set."""
    def file_of(value: str, specs: Dict[str, AsvspoofSet]) -> str:
        return specs[value].protocol(args[specs[value].key]) if value in specs else _set_file(value)

    paths = {} if args['TEST'] else {'train': file_of(args['train_set'], TRAINING_SETS)}
    if args['calibration_set'] is not None:
        paths[development_name(args)] = file_of(args['calibration_set'], CALIBRATION_SETS)
    paths.update({name: file_of(value, EVAL_SETS) for name, value in evaluation_sources(args).items()})
    return paths


@dataclass
class RunTrials:
    """What a run reads from disk: the training trials (None when only evaluating) and
    the evaluation sets. Read once, in the pre-flight check, and handed to the trainer."""
    train: Optional[List[Trial]]
    evaluation: Dict[str, List[Trial]]
    calibration: Optional[List[Trial]] = None


def run_trials(args: dict, log: Log = print, min_samples: int = 1) -> RunTrials:
    """Every set of the run; `min_samples`: the shortest file a manifest or folder set may hold
    (the backbone's shortest input)."""
    evaluation = evaluation_trials(args, log, min_samples)
    calibration = calibration_trials(args, log, min_samples)
    return RunTrials(None if args['TEST'] else training_trials(args, log, min_samples), evaluation, calibration)
