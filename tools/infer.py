"""Score audio files with a trained checkpoint.

    python3 -m tools.infer --checkpoint C FILE_OR_DIR... [--full] [--json] [--threshold T] [--p-spoof P]
                           [--decision eer|bayes] [--device cpu] [--batch-size 32]
    python3 -m tools.infer --checkpoint C FILE_OR_DIR... --segments [--hop 1.0] [--tsv OUT.tsv]
                           [--timeline DIR] [--json]

Any sample rate, mono or multi-channel (channels averaged). By default each file is
scored on the test crop from its start (wrap-padded when shorter), as in evaluation;
with --full, over sliding windows of that crop (half overlap), averaged (scored
--batch-size windows at a time, so a long file needs no more memory than a short one). The decision
uses the threshold stored in the checkpoint (the EER threshold of its development
scores, 2019 LA dev by default): score > threshold is bona fide; with --decision bayes,
LLR > the Bayes threshold of the costs at --p-spoof (ASVspoof 5: C_miss 1, C_fa 10).
With --segments, a long recording is scored window by window (the test crop's length,
every --hop seconds, the last window ending at the file's end): one row per window (start,
end, score, LLR, decision), the file judged by its lowest-scoring window with the share of
windows judged spoof, and a timeline PNG per file in --timeline (waveform, per-window LLR,
threshold, spoofed spans shaded; evaluation/segments.py).
C may be a release folder (tools/export_release.py). A model trained with lfcc_band=auto keeps the
band it measured; a file that occupies another band (a full-band file given to a telephone
model) is scored as trained, with a note on stderr (and `band_note` in the JSON).
Higher scores mean more bona fide. The
score is the one the checkpoint's configuration names (for AASIST with
aasist_score=logit, its own bona fide logit).
When the checkpoint holds a calibration (fitted on the development set at its
evaluation), each line also gives the log-likelihood ratio and the probability of bona
fide speech at the prior P(spoof) = --p-spoof (0.05, the ASVspoof 5 cost model).
"""
import argparse
import csv
import hashlib
import io
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from data.audio import AudioReadError, read_audio
from data.audio_band import band_difference, trained_band, wave_band
from data.views import crop_samples
from arguments import get_args
from evaluation.calibration import LinearCalibration
from evaluation.segments import (file_verdict, save_timeline, score_windows, window_batches, window_starts,
                                 windows_as_dicts)
from evaluation.selection import bayes_threshold
from trainer.build import build_detector_for_checkpoint
from trainer.checkpoint import CheckpointError, checkpoint_file, load_checkpoint
from utils.atomic import WriteFailed, atomic_text
from utils.output_paths import OutputPathError, check_output

AUDIO_EXTENSIONS = ('.flac', '.wav', '.mp3', '.ogg', '.opus', '.aiff', '.aif', '.au')


class InputError(ValueError):
    """An input path that is missing, or a folder without recognised audio files."""


def audio_files(inputs: List[str]) -> List[str]:
    """The files named, and the audio files (AUDIO_EXTENSIONS) under the folders named;
    InputError naming a path that does not exist or a folder that holds none."""
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = [os.path.join(folder, n) for folder, _, names in sorted(os.walk(item))
                     for n in sorted(names) if n.lower().endswith(AUDIO_EXTENSIONS)]
            if not found:
                raise InputError(f"{item}: the folder holds no audio file ({', '.join(AUDIO_EXTENSIONS)})")
            files += found
        elif os.path.isfile(item):
            files.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    return files


def window_starts_of(wave: np.ndarray, crop: int, full: bool) -> List[int]:
    """The test crop from the start, or with `full` half-overlapping crops over the whole file."""
    return window_starts(len(wave), crop, max(1, crop // 2)) if full else [0]


def timeline_names(files: Sequence[str]) -> Dict[str, str]:
    """file -> '<stem>_timeline.png'; different files that share a stem (a/take.wav, b/take.wav)
    get their stem and a hash of their absolute path, so that no timeline replaces another."""
    stems = {path: os.path.splitext(os.path.basename(path))[0] for path in files}
    owners: Dict[str, set] = {}
    for path, stem in stems.items():
        owners.setdefault(stem, set()).add(os.path.realpath(path))
    names = {}
    for path, stem in stems.items():
        if len(owners[stem]) > 1:
            stem += '-' + hashlib.sha1(os.path.realpath(path).encode('utf-8', 'surrogateescape')).hexdigest()[:8]
        names[path] = stem + '_timeline.png'
    return names


def band_note(wave: np.ndarray, args: dict) -> Optional[str]:
    """A sentence when the recording occupies another band than the audio the model was trained
    on (a model trained with lfcc_band=auto), else None; the file is scored as trained either way."""
    trained = trained_band(args)
    heard = wave_band(wave, args['sample_rate']) if trained is not None else None
    return band_difference(heard, trained, args['sample_rate']) if heard is not None else None


def checked_device(name: str) -> torch.device:
    """torch.device(name), or InputError when it is not a device name or names a GPU that
    is not there."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name}: not a device (cpu, cuda, cuda:1, ...)") from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is visible to torch (torch.cuda.is_available() is False); "
                         f"use --device cpu")
    if device.type == 'cuda' and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) are visible")
    return device


NO_THRESHOLD = ("stores no decision threshold (saved before any evaluation, or an average of checkpoints): "
                "evaluate it with TEST=True checkpoint=...; its folder's models/selected.pt carries the development "
                "threshold")


def load_detector(state: dict, device: torch.device) -> Tuple[torch.nn.Module, dict]:
    """A checkpoint's detector in eval mode on `device`, and its configuration (keys added since
    the checkpoint was written keep their defaults)."""
    args = {**get_args()[0], **state['args']}
    detector = build_detector_for_checkpoint(args)
    detector.load_state_dict(state['model'])
    return detector.to(device).eval(), args


def stored_calibration(state: dict) -> Optional[LinearCalibration]:
    return LinearCalibration.from_dict(state['calibration']) if state.get('calibration') else None


def batch_scorer(detector: torch.nn.Module, device: torch.device):
    """crops (b, crop) float array -> (b,) float64 scores, without gradients."""
    @torch.no_grad()
    def score(crops: np.ndarray) -> np.ndarray:
        return detector.score(torch.from_numpy(crops).float().to(device)).double().cpu().numpy()
    return score


def mean_score(detector: torch.nn.Module, wave: np.ndarray, crop: int, starts: Sequence[int], batch_size: int,
               device: torch.device) -> float:
    """The mean score of the windows of `wave` at `starts`, built and scored `batch_size` at a
    time (memory bounded by the batch, not by the file's length)."""
    score = batch_scorer(detector, device)
    return sum(float(score(batch).sum()) for batch in window_batches(wave, crop, starts, batch_size)) / len(starts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('inputs', nargs='+', help='audio files or folders')
    parser.add_argument('--full', action='store_true', help='score sliding windows over the whole file')
    parser.add_argument('--threshold', type=float, help="decision threshold (default: the checkpoint's)")
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--p-spoof', type=float, default=0.05,
                        help='prior probability of a spoof for the probability of bona fide (default 0.05)')
    parser.add_argument('--decision', choices=('eer', 'bayes'), default='eer',
                        help="'eer': score > the stored EER threshold; 'bayes': calibrated LLR > the Bayes "
                             "threshold at --p-spoof (needs a calibration)")
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='windows scored at once with --full or --segments (a long file is scored in such '
                             'batches)')
    parser.add_argument('--segments', action='store_true',
                        help='score windows of the test crop every --hop seconds over the whole file, one row each')
    parser.add_argument('--hop', type=float, default=1.0, help='seconds between window starts with --segments')
    parser.add_argument('--tsv', help='with --segments: write every window as a row of this TSV file')
    parser.add_argument('--timeline', default='timelines',
                        help='with --segments: the folder of the timeline PNGs (default: timelines/)')
    parser.add_argument('--trust', action='store_true',
                        help='load a checkpoint that needs more than weights (it can run code: only a file you trust)')
    options = parser.parse_args(argv)
    try:
        files = audio_files(options.inputs)
        if options.segments and options.tsv:
            check_output(options.tsv, files + [checkpoint_file(options.checkpoint)], '--tsv')
        if options.segments:
            check_output(options.timeline, files, '--timeline', kind='folder')
        device = checked_device(options.device)
        if options.batch_size < 1:
            raise InputError(f"--batch-size {options.batch_size}: must be at least 1")
        if options.segments and not options.hop > 0:
            raise InputError(f"--hop {options.hop}: must be a positive number of seconds")
        if options.segments and options.full:
            raise InputError("--segments and --full: choose one (--full averages the windows --segments reports)")
        state = load_checkpoint(options.checkpoint, ('model', 'args'), options.trust)
    except (CheckpointError, InputError, OutputPathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    detector, args = load_detector(state, device)
    calibration = stored_calibration(state)
    if options.decision == 'bayes':
        if calibration is None or calibration.scale <= 0:
            print(f"error: {options.checkpoint} holds no usable calibration for --decision bayes", file=sys.stderr)
            return 2
        threshold = bayes_threshold(calibration, options.p_spoof)['score']
    else:
        threshold = options.threshold if options.threshold is not None else state.get('threshold')
    if threshold is None:
        print(f"error: {options.checkpoint} {NO_THRESHOLD}; give --threshold", file=sys.stderr)
        return 2
    crop = crop_samples(args['num_test_frames'], args['hop'])
    timelines = timeline_names(files)
    results, failures = [], 0
    for path in files:
        try:
            whole = options.full or options.segments
            wave = read_audio(path, args['sample_rate'], max_samples=None if whole else crop)
        except AudioReadError as error:
            failures += 1
            print(f"error: {error}", file=sys.stderr)
            results.append({'path': path, 'error': str(error)})
            continue
        note = band_note(wave, args)
        if note:
            print(f"note: {path}: {note}", file=sys.stderr)
        if options.segments:
            image = os.path.join(options.timeline, timelines[path])
            results.append(_segments(detector, wave, path, image, args, crop, threshold, calibration, options,
                                     device))
            if note:
                results[-1]['band_note'] = note
            continue
        score = mean_score(detector, wave, crop, window_starts_of(wave, crop, options.full), options.batch_size,
                           device)
        result = {'path': path, 'score': score, 'decision': 'bonafide' if score > threshold else 'spoof',
                  **({'band_note': note} if note else {})}
        if calibration is not None:
            result['llr'] = float(calibration.llr(score))
            result['p_bona_fide'] = float(calibration.probability_bona_fide(score, 1 - options.p_spoof))
        results.append(result)
        if not options.json:
            calibrated = f" llr {result['llr']:.4f} P(bona fide) {result['p_bona_fide']:.4f}" if calibration else ''
            print(f"{path} {score:.6f} {result['decision']}{calibrated}", flush=True)
    if options.segments and options.tsv:
        try:
            _write_tsv(options.tsv, results)
        except WriteFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if options.json:
        print(json.dumps({'checkpoint': options.checkpoint, 'threshold': threshold, 'decision': options.decision,
                          'p_spoof': options.p_spoof,
                          'calibration': state.get('calibration'), 'results': results}, indent=2))
    return 1 if failures else 0


def _segments(detector, wave: np.ndarray, path: str, image: str, args: dict, crop: int, threshold: float,
              calibration: Optional[LinearCalibration], options, device: torch.device) -> dict:
    """Score `wave` window by window, print its rows unless --json, draw its timeline to `image`;
    the file's result with its windows."""
    rate = args['sample_rate']
    windows = score_windows(batch_scorer(detector, device), wave, rate, crop, max(1, int(round(options.hop * rate))),
                            threshold, calibration.llr if calibration is not None else None, options.batch_size)
    verdict = file_verdict(windows)
    llr_threshold = float(calibration.llr(threshold)) if calibration is not None else None
    save_timeline(image, wave, rate, windows, threshold, llr_threshold,
                  f"{os.path.basename(path)}: {verdict['decision']}")
    result = {'path': path, **verdict, 'timeline': image, 'windows': windows_as_dicts(windows)}
    if not options.json:
        print(f"{path} {verdict['decision']} (lowest window {verdict['min_window'][0]:.2f}-"
              f"{verdict['min_window'][1]:.2f} s, score {verdict['min_score']:.6f}; "
              f"{100 * verdict['spoof_share']:.0f} % of {len(windows)} windows judged spoof) timeline {image}")
        for window in windows:
            llr = f" llr {window.llr:.4f}" if window.llr is not None else ''
            print(f"  {window.start:8.2f} {window.end:8.2f} {window.score:.6f}{llr} {window.decision}")
        sys.stdout.flush()
    return result


def _write_tsv(path: str, results: List[dict]) -> None:
    """One row per window of every scored file: path, start, end, score, llr, decision (a path
    holding a tab, a newline or a quote is quoted as the csv module reads it back)."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter='\t', lineterminator='\n')
    writer.writerow(['path', 'start', 'end', 'score', 'llr', 'decision'])
    for result in results:
        for window in result.get('windows', []):
            llr = '' if window['llr'] is None else f"{window['llr']:.6f}"
            writer.writerow([result['path'], f"{window['start']:.3f}", f"{window['end']:.3f}",
                             f"{window['score']:.6f}", llr, window['decision']])
    atomic_text(path, text.getvalue())


if __name__ == '__main__':
    sys.exit(main())
