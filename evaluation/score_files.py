"""Reading score files and matching them to a protocol, with errors that say what is wrong."""
import math
import os
from collections import Counter
from typing import Dict, List, Tuple

import numpy as np

from data.protocol import Trial
from utils.text_file import text_lines


class ScoreFileError(ValueError):
    """A score file is malformed or does not match the protocol."""


def _first(ids, count: int = 5) -> str:
    return ', '.join(list(ids)[:count])


def read_scores(path: str) -> Dict[str, float]:
    """`utt_id score` lines, or the 2019 CM format `utt_id attack key score`."""
    scores: Dict[str, float] = {}
    counts: Counter = Counter()
    for line_number, line in text_lines(path, ScoreFileError):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (2, 4):
            raise ScoreFileError(f"{path}:{line_number}: expected 'utt_id score' or 'utt_id attack key score', "
                                 f"got {line.strip()!r}")
        try:
            value = float(fields[-1])
        except ValueError:
            raise ScoreFileError(f"{path}:{line_number}: score {fields[-1]!r} is not a number") from None
        if not math.isfinite(value):
            raise ScoreFileError(f"{path}:{line_number}: score {fields[-1]!r} is not finite")
        counts[fields[0]] += 1
        scores[fields[0]] = value
    duplicates = [utt for utt, count in counts.items() if count > 1]
    if duplicates:
        raise ScoreFileError(f"{path}: {len(duplicates)} utterance ids appear more than once, e.g. "
                             f"{_first(duplicates)}")
    return scores


def _stem(utt: str) -> str:
    stem, extension = os.path.splitext(utt)
    return stem if extension.lower() in ('.wav', '.flac') else utt


def match_scores(trials: List[Trial], scores: Dict[str, float], path: str) -> Tuple[np.ndarray, List[Trial]]:
    """Scores in protocol order; every trial needs a score and every score a trial. A score
    keyed by a file name (`0.wav`, as In-the-Wild's meta.csv names its files) counts for
    the trial of its stem."""
    protocol_ids = {trial.utt_id for trial in trials}
    scores = {(_stem(utt) if utt not in protocol_ids and _stem(utt) in protocol_ids else utt): value
              for utt, value in scores.items()}
    missing = [trial.utt_id for trial in trials if trial.utt_id not in scores]
    if missing:
        raise ScoreFileError(f"{path}: {len(missing)} of {len(trials)} protocol trials have no score, e.g. "
                             f"{_first(missing)}")
    extra = [utt for utt in scores if utt not in protocol_ids]
    if extra:
        raise ScoreFileError(f"{path}: {len(extra)} scored ids are not in the protocol, e.g. {_first(extra)}")
    return np.array([scores[trial.utt_id] for trial in trials]), trials
