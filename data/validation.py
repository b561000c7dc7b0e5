"""Pre-flight checks of a dataset on disk, before any training starts."""
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import soundfile as sf
from tqdm import tqdm

from data.audio import read_audio
from data.protocol import Trial
from utils.errors import BadInput

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
    'ITW': """<path_ITW>/   (the release folder release_in_the_wild/)
    meta.csv   (header file,speaker,label; label bona-fide or spoof)
    0.wav, 1.wav, ...""",
    'ASV5': """<path_ASV5>/
    ASVspoof5_protocols/ASVspoof5.train.tsv, ASVspoof5.{dev,eval}.track_1.tsv
    flac_T/T_*.flac
    flac_D/D_*.flac
    flac_E_eval/E_*.flac""",
}


class DatasetError(BadInput, FileNotFoundError):
    """A dataset root, protocol or audio file is missing; the message says what and where."""


def check_root(name: str, root: str, key: str, needed_by: str = '') -> None:
    """`needed_by`: the setting that asked for this set (said first: a default the user never typed)."""
    if root is None or not os.path.isdir(root):
        raise DatasetError(f"{needed_by + ' reads ' if needed_by else ''}{name}: dataset root {root!r} (argument "
                           f"{key}) is not a folder.\nExpected layout:\n{LAYOUTS[name]}")


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


def check_trials(name: str, trials: List[Trial], protocol: str, need_both_classes: bool = True) -> None:
    """A protocol that lists nothing, lists an utterance twice, or (for an EER) lacks a
    class is named with its counts before anything trains."""
    if not trials:
        raise DatasetError(f"{name}: protocol {protocol} lists no trials")
    counts = Counter(trial.utt_id for trial in trials)
    duplicates = sorted(utt for utt, count in counts.items() if count > 1)
    if duplicates:
        raise DatasetError(f"{name}: protocol {protocol} lists {len(duplicates):,} utterance ids more than once: "
                           f"{', '.join(duplicates[:10])}{' ...' if len(duplicates) > 10 else ''}")
    bona = sum(trial.label for trial in trials)
    if need_both_classes and (bona == 0 or bona == len(trials)):
        raise DatasetError(f"{name}: protocol {protocol} has {bona:,} bona fide and {len(trials) - bona:,} spoof "
                           f"rows; both classes are needed")


def flac_frames(path: str) -> Optional[int]:
    """The sample count a FLAC file's STREAMINFO announces, read from its first 42 bytes;
    None when the file does not start with a plain STREAMINFO block announcing a rate
    and a count (then libsndfile decides)."""
    with open(path, 'rb') as handle:
        head = handle.read(42)
    if len(head) < 42 or head[:4] != b'fLaC' or head[4] & 0x7F != 0 or int.from_bytes(head[5:8], 'big') != 34:
        return None
    fields = int.from_bytes(head[18:26], 'big')  # 20 bits rate, 3 channels, 5 bits per sample, 36 samples
    rate, frames = fields >> 44, fields & (2 ** 36 - 1)
    return frames if rate > 0 and frames > 0 else None


def _header_problem(path: str) -> Optional[str]:
    """None when the file's header can be read and announces at least one frame. FLAC
    headers are parsed directly (ten times faster than libsndfile for a DF-size set)."""
    try:
        if flac_frames(path):
            return None
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    try:
        info = sf.info(path)
    except Exception as error:  # libsndfile raises RuntimeError / LibsndfileError / TypeError
        return f"{type(error).__name__}: {error}"
    if info.frames <= 0:
        return 'no audio frames'
    return None


def default_header_workers() -> int:
    """Two threads per core: the reads wait on the disk, the parsing holds the GIL."""
    return min(32, 2 * (os.cpu_count() or 1))


def _decode_problem(path: str) -> Optional[str]:
    """None when the whole file decodes to finite samples (a header can be valid over a
    corrupt body)."""
    problem = _header_problem(path)
    if problem is not None:
        return problem
    try:
        read_audio(path, 16000)
    except Exception as error:  # AudioReadError, libsndfile's and PyAV's errors
        return f"{type(error).__name__}: {error}"
    return None


def unreadable_audio(trials: List[Trial], name: str = 'audio', workers: Optional[int] = None,
                     progress: bool = True, decode: bool = False) -> List[Tuple[str, str]]:
    """(path, problem) for every trial whose file header cannot be read (with `decode`, whose
    whole file cannot be decoded: preflight_decode), checked in `workers` threads
    (default_header_workers() by default) with a progress bar."""
    workers = workers or default_header_workers()
    paths = sorted({trial.path for trial in trials})
    check, what = (_decode_problem, 'decoding') if decode else (_header_problem, 'checking')
    with ThreadPoolExecutor(workers) as pool:
        problems = list(tqdm(pool.map(check, paths, chunksize=16 if decode else 256), total=len(paths),
                             leave=False, desc=f"{what} {name} {'audio' if decode else 'headers'}",
                             disable=not progress, dynamic_ncols=True))
    return [(path, problem) for path, problem in zip(paths, problems) if problem is not None]


def check_readable(name: str, trials: List[Trial], decode: bool = False) -> None:
    bad = unreadable_audio(trials, name, decode=decode)
    if bad:
        listed = '\n    '.join(f"{path}: {problem}" for path, problem in bad)
        raise DatasetError(f"{name}: {len(bad):,} of {len(trials):,} audio files cannot be read:\n    {listed}")


def _header_facts(path: str) -> Tuple[int, int]:
    """(sample rate, frames) from the header; OSError / libsndfile's errors when unreadable."""
    with sf.SoundFile(path) as audio:
        return audio.samplerate, audio.frames


def _labelled_problem(path: str, sample_rate: int, min_samples: int, decode: bool) -> Optional[str]:
    if not os.path.isfile(path):
        return 'missing'
    try:
        rate, frames = _header_facts(path)
    except Exception as error:  # libsndfile raises RuntimeError / LibsndfileError / TypeError
        return f"unreadable: {type(error).__name__}: {error}"
    if rate != sample_rate:
        return (f"sample rate {rate} Hz, expected sample_rate={sample_rate} (convert the set once: python3 -m "
                f"tools.make_manifest ... --resample-to DIR; or set sample_rate)")
    if frames < min_samples:
        return (f"{frames} samples, shorter than the {min_samples} samples the backbone needs at least "
                f"({frames / sample_rate:.3f} s)")
    if decode:
        try:
            read_audio(path, sample_rate)
        except Exception as error:  # AudioReadError names non-finite samples; libsndfile's and PyAV's errors
            return f"{type(error).__name__}: {error}"
    return None


def check_labelled_audio(name: str, trials: List[Trial], sample_rate: int, min_samples: int,
                         decode: bool = False, workers: Optional[int] = None) -> None:
    """Every file of a manifest or folder set exists, has a readable header at `sample_rate`
    and at least `min_samples` samples (with `decode`, decodes whole to finite samples); the
    problems are named with the manifest's line, all at once, before anything trains."""
    workers = workers or default_header_workers()
    with ThreadPoolExecutor(workers) as pool:
        problems = list(tqdm(pool.map(lambda t: _labelled_problem(t.path, sample_rate, min_samples, decode), trials),
                             total=len(trials), leave=False, dynamic_ncols=True,
                             desc=f"{'decoding' if decode else 'checking'} {name} audio"))
    bad = [(trial, problem) for trial, problem in zip(trials, problems) if problem is not None]
    if bad:
        listed = '\n    '.join(f"{trial.origin or trial.path}: {trial.path}: {problem}" for trial, problem in bad[:20])
        more = f"\n    ... and {len(bad) - 20:,} more" if len(bad) > 20 else ''
        raise DatasetError(f"{name}: {len(bad):,} of {len(trials):,} audio files cannot be used:\n    {listed}{more}")
