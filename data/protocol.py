"""ASVspoof protocol readers: one `Trial` per row (docs/method.md section 3)."""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

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

LA21_CONDITIONS = {'codec': 2, 'transmission': 3}
DF21_CONDITIONS = {'compression': 2, 'source': 3, 'vocoder': 8}


class ProtocolError(ValueError):
    """A protocol row cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Trial:
    utt_id: str
    path: str
    label: int                    # 1 bona fide, 0 spoof
    attack: str                   # 'bonafide' or the attack id
    conditions: Dict[str, str] = field(default_factory=dict)


def _label(key: str, protocol: str, line_number: int) -> int:
    if key == 'bonafide':
        return 1
    if key == 'spoof':
        return 0
    raise ProtocolError(f"{protocol}:{line_number}: key column is {key!r}, expected 'bonafide' or 'spoof'")


def _rows(protocol: str, min_fields: int):
    with open(protocol, encoding='utf-8') as handle:
        for line_number, line in enumerate(handle, 1):
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


def summary(name: str, trials: List[Trial]) -> str:
    """'19LA train: 2,580 bona fide, 22,800 spoof, attacks A01..A06 (6)'."""
    bona = sum(t.label for t in trials)
    attacks = sorted({t.attack for t in trials if t.label == 0})
    span = f"{attacks[0]}..{attacks[-1]} ({len(attacks)})" if attacks else 'none'
    return f"{name}: {bona:,} bona fide, {len(trials) - bona:,} spoof, attacks {span}"


def read_protocol_file(path: str) -> List[Trial]:
    """Any of the three protocol formats, recognised by its column count (trial paths left
    empty): 4 or 5 columns 2019 LA, 8 columns 2021 LA, 9 or more 2021 DF (eval rows only)."""
    with open(path, encoding='utf-8') as handle:
        first = next((line.split() for line in handle if line.strip()), None)
    if first is None:
        raise ProtocolError(f"{path}: empty protocol")
    if len(first) in (4, 5):
        return _read_2019(path, None)
    if len(first) == 8:
        return _read_2021(path, None, LA21_CONDITIONS, 'eval')
    if len(first) >= 9:
        return _read_2021(path, None, DF21_CONDITIONS, 'eval')
    raise ProtocolError(f"{path}: {len(first)} columns; expected a 2019 LA (4-5), 2021 LA (8) or 2021 DF (13) protocol")
