"""A small corpus of recorded human speech against real speech synthesisers, in the
ASVspoof 2019 LA layout, built only from Debian packages (nothing is downloaded at run
time):

    apt-get install ktuberling-data klettres-data espeak-ng flite festival \
        festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
    python3 -m recipes.real_speech.corpus OUT_DIR [--seed 0]

Bona fide: the recorded words of KTuberling and the letters and syllables of KLettres,
one native speaker per language folder (about 45 speakers), speakers disjoint between
train, dev and eval. Spoof: the same kind of items (short words and letters) spoken by
synthesisers. Every utterance, bona fide or spoof, is built the same way: 3 to 5 items
of one voice, silence-trimmed, joined with random pauses, scaled to a random peak and
given a faint noise floor. The recordings ship as Ogg Vorbis; each synthesised item
goes through an Ogg Vorbis round trip too, so that codec traces tell nothing.

Attacks (train and dev: A01-A03; eval: A01-A03 seen, A07-A09 never seen in training):
    A01 espeak-ng formant synthesis, in the languages of the split's bona fide speakers
    A02 Festival diphone, kal (LPC residual excitation)
    A03 Flite diphone, kal16
    A07 Flite statistical parametric (clustergen: awb, rms, slt)     unseen
    A08 Festival HTS, cmu_us_slt_arctic_hts                          unseen
    A09 Festival diphone, ked                                        unseen (a diphone voice of a new speaker)
"""
import argparse
import glob
import io
import os
import subprocess
import tempfile
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf
from scipy import signal

from data.asvspoof_layout import la19_audio_path, la19_protocol_path, la19_row, la19_utt_id, write_flac, write_protocol
from recipes.corpus_audio import check_packages, to_rate, trim

SR = 16_000
KTUBERLING = '/usr/share/ktuberling/sounds'
KLETTRES = '/usr/share/klettres'
SEEN, UNSEEN = ('A01', 'A02', 'A03'), ('A07', 'A08', 'A09')
COUNTS = {'train': (300, 300), 'dev': (100, 100), 'eval': (300, 150)}  # bona fide, spoof per attack
SPLIT_SHARE = {'train': 0.6, 'dev': 0.1, 'eval': 0.3}
FLITE_CG = ('awb', 'rms', 'slt')
ESPEAK_VARIANTS = ('', '+m1', '+m2', '+m3', '+m4', '+m5', '+f1', '+f2', '+f3', '+f4')
ESPEAK_LANGUAGE = {'en_GB': 'en-gb', 'pt_BR': 'pt-br', 'nds': 'de', 'nn': 'nb', 'sr@latin': 'sr',
                   'sr@ijekavian': 'sr', 'sr@ijekavianlatin': 'sr', 'fr': 'fr-fr', 'gl': 'es'}
REQUIRED = {'ktuberling-data': KTUBERLING, 'klettres-data': KLETTRES, 'espeak-ng': '/usr/bin/espeak-ng',
            'flite': '/usr/bin/flite', 'festival': '/usr/bin/festival',
            'festvox-kallpc16k': '/usr/share/festival/voices/english/kal_diphone',
            'festvox-kdlpc16k': '/usr/share/festival/voices/english/ked_diphone',
            'festvox-us-slt-hts': '/usr/share/festival/voices/us/cmu_us_slt_arctic_hts'}


def vorbis_round_trip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Through Ogg Vorbis at 44.1 kHz, as the recordings were distributed."""
    wide = signal.resample_poly(x, 441, 160)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wide / max(1.0, np.abs(wide).max()), -1, 1), 44_100, format='OGG', subtype='VORBIS',
             compression_level=float(rng.uniform(0.4, 0.7)))
    buffer.seek(0)
    decoded, rate = sf.read(buffer, dtype='float64')
    return to_rate(decoded, rate, SR)


# ---------------------------------------------------------------- bona fide speakers
def recorded_speakers() -> Dict[str, List[str]]:
    """speaker id -> item files: one KTuberling language folder or one KLettres language."""
    speakers = {}
    for folder in sorted(glob.glob(os.path.join(KTUBERLING, '*/'))):
        files = sorted(glob.glob(os.path.join(folder, '*.ogg')))
        if len(files) >= 20:
            speakers[f"ktuberling_{os.path.basename(folder.rstrip('/'))}"] = files
    for folder in sorted(glob.glob(os.path.join(KLETTRES, '*/'))):
        files = sorted(glob.glob(os.path.join(folder, 'alpha', '*.ogg')) + glob.glob(os.path.join(folder, 'syllab', '*.ogg')))
        if len(files) >= 20:
            speakers[f"klettres_{os.path.basename(folder.rstrip('/'))}"] = files
    return speakers


def language_of(speaker: str) -> str:
    return speaker.split('_', 1)[1]


def load_item(path: str) -> np.ndarray:
    x, rate = sf.read(path, dtype='float64')
    return trim(to_rate(x, rate, SR), SR)


# ---------------------------------------------------------------- synthesisers
def vocabulary() -> List[str]:
    """Short English items: KTuberling's object names and the letters A-Z."""
    words = sorted({os.path.basename(p)[:-4].split('_')[-1] for p in glob.glob(os.path.join(KTUBERLING, 'en', '*.ogg'))})
    return words + [chr(c) for c in range(ord('A'), ord('Z') + 1)]


def _read_wave(path: str) -> np.ndarray:
    x, rate = sf.read(path, dtype='float64')
    return trim(to_rate(x, rate, SR), SR)


def synthesise(attack: str, voice: str, words: List[str], work: str) -> Dict[str, np.ndarray]:
    """word -> 16 kHz trimmed waveform for one voice of one attack."""
    out = {}
    if attack in ('A02', 'A08', 'A09'):
        festival_voice = {'A02': 'kal_diphone', 'A08': 'cmu_us_slt_arctic_hts', 'A09': 'ked_diphone'}[attack]
        script = os.path.join(work, f'{attack}.scm')
        with open(script, 'w') as handle:
            handle.write(f"(voice_{festival_voice})\n")
            for i, word in enumerate(words):
                handle.write(f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{work}/{attack}_{i}.wav" \'riff)\n')
        subprocess.run(['festival', '-b', script], check=True, capture_output=True)
        for i, word in enumerate(words):
            out[word] = _read_wave(os.path.join(work, f'{attack}_{i}.wav'))
        return out
    for i, word in enumerate(words):
        path = os.path.join(work, f'{attack}_{voice}_{i}.wav'.replace('+', 'p'))
        if attack == 'A01':
            command = ['espeak-ng', '-v', voice, '-w', path, word]
        else:
            command = ['flite', '-voice', voice, '-t', word, '-o', path]
        subprocess.run(command, check=True, capture_output=True)
        out[word] = _read_wave(path)
    return out


# ---------------------------------------------------------------- utterances
def join_items(items: List[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    pieces = [np.zeros(int(rng.uniform(0.1, 0.3) * SR))]
    for item in items:
        pieces += [item, np.zeros(int(rng.uniform(0.08, 0.35) * SR))]
    return np.concatenate(pieces)


def finish(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random peak level and a faint white noise floor, the same for both classes."""
    x = x / max(np.abs(x).max(), 1e-9) * rng.uniform(0.3, 0.9)
    floor = 10 ** (rng.uniform(-70, -55) / 20)
    return np.clip(x + floor * rng.standard_normal(len(x)), -1, 1)


def split_speakers(speakers: List[str], rng: np.random.Generator) -> Dict[str, List[str]]:
    order = list(rng.permutation(speakers))
    n_train = int(round(SPLIT_SHARE['train'] * len(order)))
    n_dev = max(1, int(round(SPLIT_SHARE['dev'] * len(order))))
    return {'train': order[:n_train], 'dev': order[n_train:n_train + n_dev], 'eval': order[n_train + n_dev:]}


def espeak_voice(language: str) -> str:
    return ESPEAK_LANGUAGE.get(language, language)


def available_espeak_languages() -> set:
    listing = subprocess.run(['espeak-ng', '--voices'], capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in listing.splitlines()[1:] if line.split()}


def build(out_dir: str, seed: int = 0) -> Dict[str, int]:
    check_packages(REQUIRED)
    rng = np.random.default_rng(seed)
    speakers = recorded_speakers()
    splits = split_speakers(sorted(speakers), rng)
    words = vocabulary()
    espeak_languages = available_espeak_languages()
    counts = {}
    with tempfile.TemporaryDirectory() as work:
        bank: Dict[Tuple[str, str], Dict[str, np.ndarray]] = {}

        def voice_items(attack: str, voice: str) -> Dict[str, np.ndarray]:
            if (attack, voice) not in bank:
                items = synthesise(attack, voice, words, work)
                bank[(attack, voice)] = {w: vorbis_round_trip(x, rng) for w, x in items.items() if len(x)}
            return bank[(attack, voice)]

        for split in ('train', 'dev', 'eval'):
            n_bona, n_spoof = COUNTS[split]
            attacks = SEEN + (UNSEEN if split == 'eval' else ())
            languages = sorted({espeak_voice(language_of(s)) for s in splits[split]} & espeak_languages) or ['en']
            rows = []
            ids = rng.permutation(9_000_000)[:n_bona + n_spoof * len(attacks)] + 1_000_000
            cache: Dict[str, np.ndarray] = {}
            for k in range(n_bona):
                speaker = splits[split][k % len(splits[split])]
                files = rng.choice(speakers[speaker], size=int(rng.integers(3, 6)), replace=False)
                items = []
                for path in files:
                    if path not in cache:
                        cache[path] = load_item(path)
                    items.append(cache[path])
                rows.append((speaker, finish(join_items(items, rng), rng), '-', 'bonafide'))
            for attack in attacks:
                for k in range(n_spoof):
                    if attack == 'A01':
                        voice = languages[k % len(languages)] + ESPEAK_VARIANTS[int(rng.integers(len(ESPEAK_VARIANTS)))]
                    elif attack == 'A07':
                        voice = FLITE_CG[k % len(FLITE_CG)]
                    else:
                        voice = {'A02': 'kal', 'A03': 'kal16', 'A08': 'slt_hts', 'A09': 'ked'}[attack]
                    items = voice_items(attack, voice)
                    chosen = rng.choice(sorted(items), size=int(rng.integers(3, 6)), replace=False)
                    rows.append((f"{attack}_{voice}", finish(join_items([items[w] for w in chosen], rng), rng),
                                 attack, 'spoof'))
            lines = []
            for (speaker, wave, attack, key), number in zip(rows, ids):
                utt = la19_utt_id(split, number)
                write_flac(la19_audio_path(out_dir, split, utt), wave, SR)
                lines.append(la19_row(speaker, utt, attack))
            order = rng.permutation(len(lines))
            write_protocol(la19_protocol_path(out_dir, split), [lines[i] for i in order])
            counts[split] = len(lines)
            print(f"{split}: {n_bona} bona fide from {len(splits[split])} speakers, "
                  f"{n_spoof} spoof for each of {', '.join(attacks)}", flush=True)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir')
    parser.add_argument('--seed', type=int, default=0)
    options = parser.parse_args()
    build(options.out_dir, options.seed)
    print(f"corpus ready: python3 main.py path_19LA={options.out_dir} path_21LA=None path_21DF=None ...")


if __name__ == '__main__':
    main()
