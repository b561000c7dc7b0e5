"""Write a manifest (docs/data.md) from a folder of bonafide/ and spoof/ audio, or from a set of
an ASVspoof layout, so that its format is seen and any set can be given by path:

    python3 -m tools.make_manifest --folder /data/calls --out calls.csv [--split train]
    python3 -m tools.make_manifest --asvspoof 19LA_train --root /data/ASVspoof2019 --out train.tsv

Paths are written relative to the manifest's folder; an ASVspoof training set brings its vocoded
copies (the 2019 LA HiFi-GAN folder, when present) as the `vocoded` column, and its attacks and
conditions (codec, speaker, ...) as columns. A manifest is TSV when its name ends in .tsv, else CSV.
Recordings at another rate than the run's `sample_rate` (the pre-flight refuses them) are
converted once with `--resample-to DIR` (mono FLAC at --sample-rate, 16 kHz by default).
"""
import argparse
import dataclasses
import os
import sys
from typing import Dict, List, Tuple

import soundfile as sf
from tqdm import tqdm

from data.audio import AudioReadError, read_audio
from data.manifest import manifest_rows, read_folder, write_manifest
from data.protocol import LA19_VOCODED, Trial, vocoded_copies
from data.sets import CALIBRATION_SETS, EVAL_SETS, TRAINING_SETS
from utils.errors import BadInput
from utils.output_paths import OutputPathError, check_output

# the sets of the ASVspoof layouts by the names this tool takes
ASVSPOOF = {**{f"{name}_train": spec for name, spec in TRAINING_SETS.items()},
            '19LA_dev': CALIBRATION_SETS['19LA_dev'], **EVAL_SETS}


def asvspoof_trials(name: str, root: str) -> Tuple[List[Trial], Dict[str, str]]:
    """The rows of an ASVspoof set under `root`, and {utt_id: vocoded copy} for 2019 LA train."""
    spec = ASVSPOOF[name]
    trials = spec.read(root)
    vocoded = {}
    if name == '19LA_train' and os.path.isdir(os.path.join(root, LA19_VOCODED)):
        vocoded = {copy.utt_id: copy.path for copy in vocoded_copies(root, trials) if os.path.isfile(copy.path)}
    return trials, vocoded


def resampled_copies(trials: List[Trial], folder: str, sample_rate: int) -> List[Trial]:
    """Each trial's audio as a mono 16-bit FLAC at `sample_rate` under `folder` (named after its
    utterance id), for recordings at other rates; the trials now point there."""
    copies = []
    for trial in tqdm(trials, desc=f'resampling to {sample_rate} Hz', dynamic_ncols=True):
        path = os.path.join(folder, trial.utt_id + '.flac')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path, read_audio(trial.path, sample_rate), sample_rate, subtype='PCM_16')
        copies.append(dataclasses.replace(trial, path=path))
    return copies


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--folder', help='a folder holding bonafide/ and spoof/ (a subfolder of spoof/ names the '
                                         'attack)')
    source.add_argument('--asvspoof', choices=sorted(ASVSPOOF), help='a set of an ASVspoof layout (with --root)')
    parser.add_argument('--root', help="the layout's root, as path_19LA / path_21LA / ... name it")
    parser.add_argument('--split', choices=('train', 'dev', 'eval'), help='add a split column with this value')
    parser.add_argument('--out', required=True, help='the manifest to write (.csv or .tsv)')
    parser.add_argument('--resample-to', metavar='DIR', help='write mono FLAC copies at --sample-rate under DIR '
                                                            'and list those (for recordings at other rates)')
    parser.add_argument('--sample-rate', type=int, default=16000, help='the rate of --resample-to (16000)')
    options = parser.parse_args(argv)
    if options.asvspoof and not options.root:
        parser.error('--asvspoof needs --root')
    try:
        check_output(options.out, [options.folder or options.root])
        if options.folder:
            trials, vocoded = read_folder(options.folder).trials, {}
        else:
            trials, vocoded = asvspoof_trials(options.asvspoof, options.root)
        if options.resample_to:
            check_output(options.resample_to, [options.folder or options.root], '--resample-to', 'folder')
            trials, vocoded = resampled_copies(trials, options.resample_to, options.sample_rate), {}
        relative_to = os.path.dirname(os.path.abspath(options.out))
        header, rows = manifest_rows(trials, relative_to, vocoded, options.split)
        write_manifest(options.out, header, rows)
    except (BadInput, OutputPathError, AudioReadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    bona = sum(trial.label for trial in trials)
    print(f"{options.out}: {len(trials):,} rows ({bona:,} bona fide, {len(trials) - bona:,} spoof"
          + (f", {len(vocoded):,} vocoded copies" if vocoded else '') + f"), columns {', '.join(header)}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
