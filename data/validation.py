"""Pre-flight checks of a dataset on disk, before any training starts."""
import os
from typing import Dict, List

from data.protocol import Trial

LAYOUTS = {
    '19LA': """<path_19LA>/LA/
    ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
    ASVspoof2019_LA_train/flac/LA_T_*.flac   (optional: ASVspoof2019_LA_train/vocoder/hifi_gan/flac/)
    ASVspoof2019_LA_dev/flac/LA_D_*.flac
    ASVspoof2019_LA_eval/flac/LA_E_*.flac""",
    '21LA': """<path_21LA>/
    keys/LA/CM/trial_metadata.txt
    flac/LA_E_*.flac""",
    '21DF': """<path_21DF>/
    keys/DF/CM/trial_metadata.txt
    ASVspoof2021_DF_eval/flac/DF_E_*.flac""",
}


class DatasetError(FileNotFoundError):
    """A dataset root, protocol or audio file is missing; the message says what and where."""


def check_root(name: str, root: str, key: str) -> None:
    if root is None or not os.path.isdir(root):
        raise DatasetError(f"{name}: dataset root {root!r} (argument {key}) is not a folder.\n"
                           f"Expected layout:\n{LAYOUTS[name]}")


def check_protocol(name: str, protocol: str) -> None:
    if not os.path.isfile(protocol):
        raise DatasetError(f"{name}: protocol file not found: {protocol}\nExpected layout:\n{LAYOUTS[name]}")


def missing_audio(trials: List[Trial]) -> List[str]:
    """Paths of trials whose file is absent; each folder is listed once (no stat per file)."""
    listings: Dict[str, set] = {}
    missing = []
    for trial in trials:
        folder, name = os.path.split(trial.path)
        if folder not in listings:
            listings[folder] = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        if name not in listings[folder]:
            missing.append(trial.path)
    return missing


def check_audio(name: str, trials: List[Trial], layout: str) -> None:
    """`layout` is a key of LAYOUTS ('19LA', '21LA', '21DF')."""
    missing = missing_audio(trials)
    if missing:
        first = '\n    '.join(missing[:5])
        raise DatasetError(f"{name}: {len(missing):,} of {len(trials):,} audio files listed in the protocol are "
                           f"missing; the first {min(5, len(missing))}:\n    {first}\n"
                           f"Expected layout:\n{LAYOUTS[layout]}")
