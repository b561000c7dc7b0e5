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
A command line over inference.Detector, which scores from Python.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import sys
from typing import Dict, List, Sequence

import torch

from data.audio import AUDIO_EXTENSIONS, AudioReadError, audio_files_under
from evaluation.segments import save_timeline, windows_as_dicts
from inference import DecisionError, Detector
from utils.atomic import WriteFailed, atomic_text
from utils.checkpoint_file import CheckpointError, checkpoint_file
from utils.output_paths import OutputPathError, check_output


class InputError(ValueError):
    """An input path that is missing, or a folder without recognised audio files."""


def audio_files(inputs: List[str]) -> List[str]:
    """The files named, and the audio files (AUDIO_EXTENSIONS) under the folders named;
    InputError naming a path that does not exist or a folder that holds none."""
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = audio_files_under(item)
            if not found:
                raise InputError(f"{item}: the folder holds no audio file ({', '.join(AUDIO_EXTENSIONS)})")
            files += found
        elif os.path.isfile(item):
            files.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    return files


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
        detector = Detector.from_pretrained(options.checkpoint, device, options.trust)
        threshold = detector.decision_threshold(options.decision, options.p_spoof, options.threshold)
    except (CheckpointError, InputError, OutputPathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DecisionError as error:
        print(f"error: {error}{'' if options.decision == 'bayes' else '; give --threshold'}", file=sys.stderr)
        return 2
    timelines = timeline_names(files)
    results, failures = [], 0
    for path in files:
        try:
            wave = detector.waveform(path, whole=options.full or options.segments)
        except AudioReadError as error:
            failures += 1
            print(f"error: {error}", file=sys.stderr)
            results.append({'path': path, 'error': str(error)})
            continue
        if options.segments:
            note = detector.band_note(wave)
            result = _segments(detector, wave, path, os.path.join(options.timeline, timelines[path]), threshold,
                               options)
        else:
            decision = detector.decide(wave, options.decision, options.p_spoof, options.threshold, options.full,
                                       options.batch_size)
            note = decision.band_note
            result = {'path': path, 'score': decision.score, 'decision': decision.decision}
            if decision.llr is not None:
                result['llr'], result['p_bona_fide'] = decision.llr, decision.p_bona_fide
            if not options.json:
                calibrated = f" llr {decision.llr:.4f} P(bona fide) {decision.p_bona_fide:.4f}" \
                    if decision.llr is not None else ''
                print(f"{path} {decision.score:.6f} {decision.decision}{calibrated}", flush=True)
        if note:
            print(f"note: {path}: {note}", file=sys.stderr)
        results.append({**result, **({'band_note': note} if note else {})})
    if options.segments and options.tsv:
        try:
            _write_tsv(options.tsv, results)
        except WriteFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if options.json:
        print(json.dumps({'checkpoint': options.checkpoint, 'threshold': threshold, 'decision': options.decision,
                          'p_spoof': options.p_spoof, 'calibration': detector.state.get('calibration'),
                          'results': results}, indent=2))
    return 1 if failures else 0


def _segments(detector: Detector, wave, path: str, image: str, threshold: float, options) -> dict:
    """Score `wave` window by window, print its rows unless --json, draw its timeline to `image`;
    the file's result with its windows."""
    windows, verdict = detector.segments(wave, options.hop, threshold, options.batch_size)
    llr_threshold = detector.llr(threshold)
    save_timeline(image, wave, detector.sample_rate, windows, threshold, llr_threshold,
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
