"""Labelled audio outside the ASVspoof layouts: a manifest (CSV or TSV with a header) or a
folder of `bonafide/` and `spoof/` audio (docs/data.md).

A manifest has one row per utterance: `path` (absolute, or relative to the manifest) and
`label` (`bonafide` / `spoof`) are required; `utt_id` (default: the path without its extension),
`attack` (spoof rows; default 'spoof'), `split` (train / dev / eval: a set asks for its rows),
`vocoded` (the path of a vocoded copy of the row, an extra spoof row in training, as the 2019
LA HiFi-GAN copies) are read; every other column (`speaker`, `condition`, `language`, ...) is kept
as a grouping that the reports break the EER down by. Each row's trial remembers its line, so
that every check names it.
"""
import csv
import io
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from data.audio import audio_files_under
from data.protocol import ProtocolError, Trial, read_protocol_file
from utils.atomic import atomic_text
from utils.text_file import text_lines

REQUIRED = ('path', 'label')
READ = ('path', 'label', 'utt_id', 'attack', 'split', 'vocoded')   # the columns that are not groupings
LABELS = {'bonafide': 1, 'bona-fide': 1, 'bona fide': 1, 'spoof': 0}
SPLITS = {'train': ('train', 'training'), 'dev': ('dev', 'development', 'valid', 'validation'),
          'eval': ('eval', 'evaluation', 'test')}
FOLDER_CLASSES = {'bonafide': 1, 'spoof': 0}


@dataclass
class LabelledSet:
    """The rows of a manifest or folder that a run reads, and the vocoded copies they list."""
    trials: List[Trial]
    vocoded: List[Trial]


def is_manifest(path: str) -> bool:
    return os.path.isfile(path)


def set_name(path: str) -> str:
    """The name reports and metric files give a manifest or folder: its file name without the
    extension, or its folder name; characters other than letters, digits, '.', '-' and '_' become '_'."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0] if is_manifest(path) \
        else os.path.basename(os.path.normpath(path))
    return re.sub(r'[^A-Za-z0-9._-]', '_', stem) or 'set'


def _rows(manifest: str):
    """(line number, {column: value}) per non-empty row; the header decides comma or tab."""
    lines = [(number, line) for number, line in text_lines(manifest, ProtocolError)]
    content = [(number, line) for number, line in lines if line.strip()]
    if not content:
        raise ProtocolError(f"{manifest}: empty manifest; expected a header with the columns path,label")
    header_number, header_line = content[0]
    delimiter = '\t' if '\t' in header_line else ','
    header = [name.strip() for name in next(csv.reader([header_line], delimiter=delimiter))]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ProtocolError(f"{manifest}:{header_number}: the header {header_line!r} lacks the column(s) "
                            f"{', '.join(missing)}; a manifest needs path and label (see docs/data.md)")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ProtocolError(f"{manifest}:{header_number}: the column(s) {', '.join(repeated)} appear twice")
    for number, line in content[1:]:
        fields = next(csv.reader([line], delimiter=delimiter))
        if len(fields) != len(header):
            raise ProtocolError(f"{manifest}:{number}: {len(fields)} columns, the header has {len(header)}: {line!r}")
        yield number, dict(zip(header, (field.strip() for field in fields)))


def _in_split(value: str, split: Optional[str]) -> bool:
    return split is None or value.lower() in SPLITS[split]


def _resolved(manifest: str, path: str) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(manifest)), os.path.expanduser(path)))


def read_manifest(manifest: str, split: Optional[str] = None) -> LabelledSet:
    """The rows of `manifest` (those of `split`, 'train' / 'dev' / 'eval', when it has a split
    column); ProtocolError naming the line of an unknown label, an empty path, a repeated
    utterance id or path, or no row of the split asked for."""
    trials, vocoded, seen_ids, seen_paths, splits = [], [], {}, {}, set()
    for number, row in _rows(manifest):
        where = f"{manifest}:{number}"
        splits.add(row.get('split', ''))
        if not _in_split(row.get('split', ''), split if 'split' in row else None):
            continue
        label = LABELS.get(row['label'].lower())
        if label is None:
            raise ProtocolError(f"{where}: label {row['label']!r}, expected 'bonafide' or 'spoof'")
        if not row['path']:
            raise ProtocolError(f"{where}: the path is empty")
        path = _resolved(manifest, row['path'])
        utt_id = row.get('utt_id') or os.path.splitext(row['path'])[0]
        for seen, value, what in ((seen_ids, utt_id, 'utterance id'), (seen_paths, path, 'path')):
            if value in seen:
                raise ProtocolError(f"{where}: {what} {value!r} is already on line {seen[value]}")
            seen[value] = number
        attack = 'bonafide' if label else (row.get('attack') or 'spoof')
        groupings = {column: value for column, value in row.items() if column not in READ}
        trials.append(Trial(utt_id, path, label, attack, groupings, origin=where))
        if row.get('vocoded'):
            vocoded.append(Trial(utt_id, _resolved(manifest, row['vocoded']), 0, attack,
                                 {**groupings, 'vocoder': 'vocoded'}, origin=f"{where} (vocoded)"))
    if not trials and split is not None and splits != {''}:
        raise ProtocolError(f"{manifest}: no row of the {split} split (the split column holds "
                            f"{', '.join(sorted(repr(s) for s in splits))}; {split} is any of "
                            f"{', '.join(SPLITS[split])})")
    return LabelledSet(trials, vocoded)


def read_folder(root: str) -> LabelledSet:
    """ROOT/bonafide/** and ROOT/spoof/** (any audio the project reads, in sorted order); a file
    under a subfolder of spoof/ takes that subfolder's name as its attack; the utterance id is
    the path under ROOT without its extension."""
    present = [name for name in FOLDER_CLASSES if os.path.isdir(os.path.join(root, name))]
    if not present:
        raise ProtocolError(f"{root}: expected the subfolders bonafide/ and spoof/ holding audio files "
                            f"(or give a manifest file, see docs/data.md)")
    trials = []
    for name in present:
        for path in audio_files_under(os.path.join(root, name)):
            relative = os.path.relpath(path, root)
            parts = relative.split(os.sep)
            label = FOLDER_CLASSES[name]
            attack = 'bonafide' if label else (parts[1] if len(parts) > 2 else 'spoof')
            trials.append(Trial(os.path.splitext(relative)[0], path, label, attack, {}, origin=path))
    return LabelledSet(trials, [])


def read_labelled(path: str, split: Optional[str] = None) -> LabelledSet:
    """A manifest file or a folder of bonafide/ and spoof/."""
    if is_manifest(path):
        return read_manifest(path, split)
    if os.path.isdir(path):
        return read_folder(path)
    raise ProtocolError(f"{path}: neither a manifest file nor a folder")


def read_protocol_or_manifest(path: str) -> List[Trial]:
    """Any ASVspoof protocol (data.protocol.read_protocol_file) or a manifest, told apart by a
    first line that names the columns path and label."""
    first = next((line for _, line in text_lines(path, ProtocolError) if line.strip()), '')
    columns = {name.strip() for name in next(csv.reader([first], delimiter='\t' if '\t' in first else ','))} \
        if first else set()
    return read_manifest(path).trials if set(REQUIRED) <= columns else read_protocol_file(path)


def manifest_rows(trials: List[Trial], relative_to: str, vocoded: Optional[Dict[str, str]] = None,
                  split: Optional[str] = None) -> Tuple[List[str], List[List[str]]]:
    """(header, rows) of a manifest of `trials`, paths under `relative_to` written relative to it
    (others as they are);
    `vocoded` {utt_id: path} adds the vocoded column, `split` the split column."""
    def written(path: str) -> str:
        relative = os.path.relpath(path, relative_to)
        return path if relative.startswith(os.pardir) else relative

    groupings = sorted({key for trial in trials for key in trial.conditions})
    header = ['utt_id', 'path', 'label', 'attack'] + groupings + (['vocoded'] if vocoded else []) \
        + (['split'] if split else [])
    rows = []
    for trial in trials:
        row = [trial.utt_id, written(trial.path), 'bonafide' if trial.label else 'spoof',
               '' if trial.label else trial.attack] + [trial.conditions.get(key, '') for key in groupings]
        if vocoded:
            copy = vocoded.get(trial.utt_id) if not trial.label else None
            row.append(written(copy) if copy else '')
        if split:
            row.append(split)
        rows.append(row)
    return header, rows


def write_manifest(path: str, header: List[str], rows: List[List[str]]) -> None:
    """A TSV (path ending .tsv) or CSV manifest."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter='\t' if path.endswith('.tsv') else ',', lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
    atomic_text(path, text.getvalue())
