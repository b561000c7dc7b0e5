"""Writing a corpus in the ASVspoof layouts that data/protocol.py reads: the one writer of the
demo corpus and of the recipes' real-speech corpora (recipes/)."""
import os
from typing import Iterable, Optional

import numpy as np
import soundfile as sf

from data.protocol import (DF21_AUDIO, DF21_PROTOCOL, LA19_AUDIO, LA19_PROTOCOL_FILES, LA19_PROTOCOLS, LA19_VOCODED,
                           LA21_AUDIO, LA21_PROTOCOL)

LA19_LETTER = {'train': 'T', 'dev': 'D', 'eval': 'E'}


def la19_utt_id(split: str, number: int) -> str:
    """LA_T_1234567: the split's letter and a seven-digit number."""
    return f"LA_{LA19_LETTER[split]}_{number:07d}"


def la19_row(speaker: str, utt_id: str, attack: Optional[str]) -> str:
    """One 2019 LA protocol line; `attack` None (or '-') is a bona fide row."""
    spoof = attack not in (None, '-')
    return f"{speaker} {utt_id} - {attack if spoof else '-'} {'spoof' if spoof else 'bonafide'}"


def la19_audio_path(root: str, split: str, utt_id: str, vocoded: bool = False) -> str:
    """Where 2019 LA keeps an utterance (`vocoded`: its HiFi-GAN copy, train only)."""
    folder = LA19_VOCODED if vocoded else LA19_AUDIO.format(split=split)
    return os.path.join(root, folder, utt_id + '.flac')


def la21_audio_path(root: str, utt_id: str) -> str:
    return os.path.join(root, LA21_AUDIO, utt_id + '.flac')


def df21_audio_path(root: str, utt_id: str) -> str:
    return os.path.join(root, DF21_AUDIO, utt_id + '.flac')


def la19_protocol_path(root: str, split: str) -> str:
    return os.path.join(root, LA19_PROTOCOLS, LA19_PROTOCOL_FILES[split])


def la21_protocol_path(root: str) -> str:
    return os.path.join(root, LA21_PROTOCOL)


def df21_protocol_path(root: str) -> str:
    return os.path.join(root, DF21_PROTOCOL)


def write_protocol(path: str, lines: Iterable[str]) -> None:
    """The protocol file at `path`, one line per row, its folders made."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(''.join(line + '\n' for line in lines))


def write_flac(path: str, wave: np.ndarray, sample_rate: int) -> None:
    """16-bit FLAC, as the ASVspoof releases, its folders made."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.asarray(wave).astype(np.float32), sample_rate, format='FLAC', subtype='PCM_16')
