"""Protocol readers (ASVspoof 2019 LA, 2021 LA / DF, ASVspoof 5, In-the-Wild): one `Trial`
per row (docs/method.md section 3)."""
import hashlib
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from utils.errors import BadInput
from utils.text_file import text_lines

LA19_PROTOCOLS = 'LA/ASVspoof2019_LA_cm_protocols'
LA19_PROTOCOL_FILES = {
    'train': 'ASVspoof2019.LA.cm.train.trn.txt',
    'dev': 'ASVspoof2019.LA.cm.dev.trl.txt',
    'eval': 'ASVspoof2019.LA.cm.eval.trl.txt',
}
LA19_AUDIO = 'LA/ASVspoof2019_LA_{split}/flac'
LA19_VOCODED = 'LA/ASVspoof2019_LA_train/vocoder/hifi_gan/flac'
LA19_ASV_EVAL_SCORES = 'LA/ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt'
LA21_PROTOCOL = 'keys/LA/CM/trial_metadata.txt'
LA21_AUDIO = 'flac'
DF21_PROTOCOL = 'keys/DF/CM/trial_metadata.txt'
DF21_AUDIO = 'ASVspoof2021_DF_eval/flac'

ITW_META = 'meta.csv'
ASV5_PROTOCOLS = {'train': 'ASVspoof5_protocols/ASVspoof5.train.tsv',
                  'dev': 'ASVspoof5_protocols/ASVspoof5.dev.track_1.tsv',
                  'eval': 'ASVspoof5_protocols/ASVspoof5.eval.track_1.tsv'}
ASV5_AUDIO = {'train': 'flac_T', 'dev': 'flac_D', 'eval': 'flac_E_eval'}

LA21_CONDITIONS = {'codec': 2, 'transmission': 3}
DF21_CONDITIONS = {'compression': 2, 'source': 3, 'vocoder': 8}


class ProtocolError(BadInput, ValueError):
    """A protocol row cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Trial:
    utt_id: str
    path: str
    label: int                    # 1 bona fide, 0 spoof
    attack: str                   # 'bonafide' or the attack id
    conditions: Dict[str, str] = field(default_factory=dict)
    origin: str = field(default='', compare=False)   # 'manifest.csv:12': where the row was read (manifests)


def _label(key: str, protocol: str, line_number: int) -> int:
    if key == 'bonafide':
        return 1
    if key == 'spoof':
        return 0
    raise ProtocolError(f"{protocol}:{line_number}: key column is {key!r}, expected 'bonafide' or 'spoof'")


def _rows(protocol: str, min_fields: int):
    for line_number, line in text_lines(protocol, ProtocolError):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < min_fields:
            raise ProtocolError(f"{protocol}:{line_number}: {len(fields)} columns, expected at least "
                                f"{min_fields}: {line.strip()!r}")
        yield line_number, fields


def protocol_2019_path(root: str, split: str) -> str:
    return os.path.join(root, LA19_PROTOCOLS, LA19_PROTOCOL_FILES[split])


def _audio_path(audio: Optional[str], utt_id: str) -> str:
    return os.path.join(audio, utt_id + '.flac') if audio is not None else ''


def _read_2019(protocol: str, audio: Optional[str]) -> List[Trial]:
    trials = []
    for line_number, fields in _rows(protocol, 4):
        attack = fields[-2]
        trials.append(Trial(fields[1], _audio_path(audio, fields[1]), _label(fields[-1], protocol, line_number),
                            'bonafide' if attack == '-' else attack))
    return trials


def read_asvspoof2019(root: str, split: str) -> List[Trial]:
    """2019 LA train/dev/eval. Official rows `LA_0079 LA_T_1004644 - A01 spoof`; the
    4-column redistribution `flac LA_T_1004644 A01 spoof` is read too: utterance is the
    2nd field, key the last, attack the second to last."""
    return _read_2019(protocol_2019_path(root, split), os.path.join(root, LA19_AUDIO.format(split=split)))


def vocoded_copies(root: str, train: List[Trial]) -> List[Trial]:
    """HiFi-GAN copies of the spoof training rows (same ids), as extra spoof trials."""
    folder = os.path.join(root, LA19_VOCODED)
    return [Trial(t.utt_id, os.path.join(folder, t.utt_id + '.flac'), 0, t.attack, {'vocoder': 'hifi_gan'})
            for t in train if t.label == 0]


def _read_2021(protocol: str, audio: Optional[str], conditions: Dict[str, int],
               subset: Optional[str]) -> List[Trial]:
    min_fields = max(8, max(conditions.values()) + 1)
    trials = []
    for line_number, fields in _rows(protocol, min_fields):
        if subset is not None and fields[7] != subset:
            continue
        attack = fields[4]
        trials.append(Trial(fields[1], _audio_path(audio, fields[1]), _label(fields[5], protocol, line_number),
                            'bonafide' if attack == '-' else attack,
                            {name: fields[index] for name, index in conditions.items()}))
    return trials


def read_asvspoof2021_la(root: str, subset: Optional[str] = 'eval') -> List[Trial]:
    """2021 LA: `LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval`; rows of `subset` only."""
    return _read_2021(os.path.join(root, LA21_PROTOCOL), os.path.join(root, LA21_AUDIO), LA21_CONDITIONS, subset)


def read_asvspoof2021_df(root: str, subset: Optional[str] = 'eval') -> List[Trial]:
    """2021 DF: `LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim eval traditional_vocoder - - - -`."""
    return _read_2021(os.path.join(root, DF21_PROTOCOL), os.path.join(root, DF21_AUDIO), DF21_CONDITIONS, subset)


def _read_in_the_wild(meta: str, audio: Optional[str]) -> List[Trial]:
    lines = [line for _, line in text_lines(meta, ProtocolError)]
    if not lines or [field.strip() for field in lines[0].split(',')] != ['file', 'speaker', 'label']:
        raise ProtocolError(f"{meta}:1: expected the header 'file,speaker,label', got "
                            f"{lines[0] if lines else ''!r}")
    trials = []
    for line_number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(',')]
        if len(fields) != 3:
            raise ProtocolError(f"{meta}:{line_number}: {len(fields)} comma-separated columns, expected 3 "
                                f"(file,speaker,label): {line!r}")
        name, speaker, key = fields
        if key not in ('bona-fide', 'spoof'):
            raise ProtocolError(f"{meta}:{line_number}: label {key!r}, expected 'bona-fide' or 'spoof'")
        label = int(key == 'bona-fide')
        trials.append(Trial(os.path.splitext(name)[0], os.path.join(audio, name) if audio is not None else '',
                            label, 'bonafide' if label else 'spoof', {'speaker': speaker}))
    return trials


def read_in_the_wild(root: str) -> List[Trial]:
    """In-the-Wild (`release_in_the_wild/`): meta.csv rows `0.wav,Alec Guinness,spoof`;
    utterance id = file name without extension, label `bona-fide` or `spoof`, the
    speaker as a condition (EER per speaker in the breakdown)."""
    return _read_in_the_wild(os.path.join(root, ITW_META), root)


def _read_asvspoof5(protocol: str, audio: Optional[str]) -> List[Trial]:
    trials = []
    for line_number, fields in _rows(protocol, 10):
        label = _label(fields[8], protocol, line_number)
        trials.append(Trial(fields[1], _audio_path(audio, fields[1]), label,
                            'bonafide' if label else fields[7], {'codec': fields[3]}))
    return trials


def read_asvspoof5(root: str, split: str) -> List[Trial]:
    """ASVspoof 5 track 1, `train`, `dev` or `eval`: whitespace-separated rows `SPEAKER_ID
    FLAC_FILE_NAME SPEAKER_GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY
    TMP`; the attack is ATTACK_LABEL, the codec a condition."""
    return _read_asvspoof5(os.path.join(root, ASV5_PROTOCOLS[split]), os.path.join(root, ASV5_AUDIO[split]))


def rows_sha256(trials: List[Trial]) -> str:
    """sha256 of the rows in order (id, label, attack): the same protocol read from another
    folder has the same fingerprint; another protocol, or another order, does not."""
    digest = hashlib.sha256()
    for trial in trials:
        digest.update(f"{trial.utt_id}\t{trial.label}\t{trial.attack}\n".encode('utf-8'))
    return digest.hexdigest()


def summary(name: str, trials: List[Trial]) -> str:
    """'19LA train: 2,580 bona fide, 22,800 spoof, attacks A01..A06 (6)'."""
    bona = sum(t.label for t in trials)
    attacks = sorted({t.attack for t in trials if t.label == 0})
    span = f"{attacks[0]}..{attacks[-1]} ({len(attacks)})" if attacks else 'none'
    return f"{name}: {bona:,} bona fide, {len(trials) - bona:,} spoof, attacks {span}"


def read_protocol_file(path: str) -> List[Trial]:
    """Any protocol format, recognised by its first row (trial paths left empty): the
    In-the-Wild header `file,speaker,label`; 4 or 5 columns 2019 LA; 8 columns 2021 LA;
    10 columns with `bonafide`/`spoof` in the 9th ASVspoof 5; 9 or more 2021 DF (eval
    rows only)."""
    first_line = next((line for _, line in text_lines(path, ProtocolError) if line.strip()), None)
    if first_line is None:
        raise ProtocolError(f"{path}: empty protocol")
    if first_line.replace(' ', '').startswith('file,speaker,label'):
        return _read_in_the_wild(path, None)
    first = first_line.split()
    if len(first) == 10 and first[8] in ('bonafide', 'spoof'):
        return _read_asvspoof5(path, None)
    if len(first) in (4, 5):
        return _read_2019(path, None)
    if len(first) >= 8:
        trials = _read_2021(path, None, LA21_CONDITIONS if len(first) == 8 else DF21_CONDITIONS, 'eval')
        if not trials:
            subsets = sorted({fields[7] for _, fields in _rows(path, 8)})
            raise ProtocolError(f"{path}: no 'eval' rows (the 8th column of a 2021 key): it holds only "
                                f"{', '.join(repr(s) for s in subsets)} rows; the 2021 results are those of the "
                                f"eval rows, and only they are scored")
        return trials
    raise ProtocolError(f"{path}: {len(first)} columns; expected a 2019 LA (4-5), 2021 LA (8), ASVspoof 5 (10) or "
                        f"2021 DF (13) protocol, or an In-the-Wild meta.csv")
