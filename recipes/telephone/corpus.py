"""A small telephone-band corpus of recorded voices against speech synthesisers, in the ASVspoof
2019 LA layout, built only from Debian packages (nothing is downloaded at run time):

    apt-get install asterisk-core-sounds-{en,es,fr,it,ru} asterisk-core-sounds-{en,es,fr,it,ru}-wav \
        asterisk-prompt-it-menardi-wav espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts \
        festvox-italp16k festvox-itapc16k festvox-ru
    python3 -m recipes.telephone.corpus OUT_DIR [--seed 0]

Bona fide: the Asterisk voice prompts, 8 kHz recordings of professional voices. Allison (US
English and Mexican Spanish, one speaker), June (Canadian French) and Carlo (Italian) are the
training speakers (in train, dev and eval, each split with its own prompts); Menardi (Italian)
and IvrvoiceRU (Russian) are heard in eval only. Spoof: the prompts' transcripts (shipped with
the packages) read by synthesisers in the same languages:

    A01 espeak-ng formant synthesis, en / es / fr / it, ten variants   seen
    A02 Festival diphone kal, en                                       seen
    A03 Festival diphone pc (male), it                                 seen
    A07 Festival HTS slt, en                                           unseen
    A08 Flite clustergen awb / rms / slt, en                           unseen
    A09 Festival unit selection msu_ru_nsh, ru                         unseen (a new language too)
    A10 Festival diphone lp (female), it                               unseen

Every utterance, bona fide or spoof, is made the same way: 1 to 3 prompts of one voice, trimmed
and joined with random pauses (1.2-3 s of speech, 2-3.5 s in all), at 8 kHz; then the telephone
channel (`telephone_channel`): band-pass 200-3400 Hz, a random level, light coloured noise at
30-45 dB SNR and a faint white floor, resampled to 16 kHz. So neither level, silence nor
bandwidth tells the classes apart (`python3 -m recipes.telephone.corpus --check OUT_DIR`
prints the EER each such cue gives alone).
"""
import argparse
import gzip
import os
import subprocess
import tempfile
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf
from scipy import signal

from data.asvspoof_layout import la19_audio_path, la19_protocol_path, la19_row, la19_utt_id, write_flac, write_protocol
from recipes.corpus_audio import check_packages, to_rate, trim

RATE, OUT_RATE = 8_000, 16_000
SOUNDS = '/usr/share/asterisk/sounds'
TRANSCRIPTS = '/usr/share/doc/asterisk-core-sounds-{language}/core-sounds-{language}.txt.gz'
# speaker -> (prompt folder, language)
SPEAKERS = {'allison_en': ('en_US_f_Allison', 'en'), 'allison_es': ('es_MX_f_Allison', 'es'),
            'june_fr': ('fr_CA_f_June', 'fr'), 'carlo_it': ('it_IT_m_Carlo', 'it'),
            'menardi_it': ('it_IT_f_Menardi', 'it'), 'ivrvoice_ru': ('ru_RU_f_IvrvoiceRU', 'ru')}
TRAINING_SPEAKERS = ('allison_en', 'allison_es', 'june_fr', 'carlo_it')   # Allison is one person
NEW_SPEAKERS = ('menardi_it', 'ivrvoice_ru')
# attack -> (engine, voices, languages)
ATTACKS = {
    'A01': ('espeak', ('', '+m1', '+m2', '+m3', '+m4', '+m5', '+f1', '+f2', '+f3', '+f4'), ('en', 'es', 'fr', 'it')),
    'A02': ('festival', ('kal_diphone',), ('en',)),
    'A03': ('festival', ('pc_diphone',), ('it',)),
    'A07': ('festival', ('cmu_us_slt_arctic_hts',), ('en',)),
    'A08': ('flite', ('awb', 'rms', 'slt'), ('en',)),
    'A09': ('festival', ('msu_ru_nsh_clunits',), ('ru',)),
    'A10': ('festival', ('lp_diphone',), ('it',)),
}
SEEN, UNSEEN = ('A01', 'A02', 'A03'), ('A07', 'A08', 'A09', 'A10')
ESPEAK_LANGUAGE = {'en': 'en-us', 'es': 'es', 'fr': 'fr-fr', 'it': 'it', 'ru': 'ru'}
# bona fide per training speaker, bona fide per new speaker, spoof per attack
COUNTS = {'train': (75, 0, 200), 'dev': (30, 0, 60), 'eval': (50, 100, 120)}
PROMPT_SHARE = {'train': 0.5, 'dev': 0.15, 'eval': 0.35}
REQUIRED = {'asterisk-core-sounds-en-wav': os.path.join(SOUNDS, 'en_US_f_Allison'),
            'asterisk-core-sounds-es-wav': os.path.join(SOUNDS, 'es_MX_f_Allison'),
            'asterisk-core-sounds-fr-wav': os.path.join(SOUNDS, 'fr_CA_f_June'),
            'asterisk-core-sounds-it-wav': os.path.join(SOUNDS, 'it_IT_m_Carlo'),
            'asterisk-core-sounds-ru-wav': os.path.join(SOUNDS, 'ru_RU_f_IvrvoiceRU'),
            'asterisk-prompt-it-menardi-wav': os.path.join(SOUNDS, 'it_IT_f_Menardi'),
            **{f'asterisk-core-sounds-{language}': TRANSCRIPTS.format(language=language)
               for language in ('en', 'es', 'fr', 'it', 'ru')},
            'espeak-ng': '/usr/bin/espeak-ng', 'flite': '/usr/bin/flite', 'festival': '/usr/bin/festival',
            'festvox-kallpc16k': '/usr/share/festival/voices/english/kal_diphone',
            'festvox-us-slt-hts': '/usr/share/festival/voices/us/cmu_us_slt_arctic_hts',
            'festvox-italp16k': '/usr/share/festival/voices/italian/lp_diphone',
            'festvox-itapc16k': '/usr/share/festival/voices/italian/pc_diphone',
            'festvox-ru': '/usr/share/festival/voices/russian/msu_ru_nsh_clunits'}


def transcripts(language: str) -> Dict[str, str]:
    """prompt name -> text, from the transcript file of the language's core sounds."""
    texts = {}
    with gzip.open(TRANSCRIPTS.format(language=language), 'rt', encoding='utf-8-sig') as handle:
        for line in handle:
            name, colon, text = line.partition(':')
            if colon and not line.startswith(';') and text.strip():
                texts[name.strip()] = ' '.join(text.split())
    return texts


def read_item(path: str) -> np.ndarray:
    x, rate = sf.read(path, dtype='float64')
    return trim(to_rate(x, rate, RATE), RATE)


def telephone_channel(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """8 kHz waveform -> 16 kHz: band-pass 200-3400 Hz (8th-order Butterworth, forward and
    backward), peak U[0.25, 0.8], coloured noise (1 / f^U[0.5, 1.5]) in the band at U[30, 45] dB
    SNR and a white floor 55-65 dB below the speech, which hides what the band-pass leaves
    outside the band (the recordings were high-passed at the source, the synthesisers' low
    frequencies were not); the same for every utterance of both classes."""
    band = signal.butter(8, [200, 3400], 'bandpass', fs=RATE, output='sos')
    x = signal.sosfiltfilt(band, x - x.mean())
    x = x / max(np.abs(x).max(), 1e-9) * rng.uniform(0.25, 0.8)
    power = np.mean(x ** 2)
    spectrum = np.fft.rfft(rng.standard_normal(len(x)))
    frequencies = np.fft.rfftfreq(len(x), 1 / RATE)
    coloured = signal.sosfiltfilt(band, np.fft.irfft(
        spectrum / np.maximum(frequencies, 20.0) ** (rng.uniform(0.5, 1.5) / 2), len(x)))
    coloured *= np.sqrt(power / max(np.mean(coloured ** 2), 1e-20)) * 10 ** (-rng.uniform(30, 45) / 20)
    floor = np.sqrt(power) * 10 ** (-rng.uniform(55, 65) / 20) * rng.standard_normal(len(x))
    return np.clip(to_rate(x + coloured + floor, RATE, OUT_RATE), -1, 1)


def join_items(items: List[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    pieces = [np.zeros(int(rng.uniform(0.1, 0.3) * RATE))]
    for item in items:
        pieces += [item, np.zeros(int(rng.uniform(0.08, 0.35) * RATE))]
    return np.concatenate(pieces)


def pick_items(pool: List[str], load, rng: np.random.Generator) -> List[np.ndarray]:
    """1 to 3 prompts of the pool, about U[1.2, 2.8] s of speech and never more than 3 s;
    `load(name)` -> 8 kHz item or None."""
    target, items, seconds = rng.uniform(1.2, 2.8), [], 0.0
    for name in rng.permutation(pool):
        item = load(str(name))
        if item is None or len(item) < 0.3 * RATE or seconds + len(item) / RATE > 3.0:
            continue
        items.append(item)
        seconds += len(item) / RATE
        if seconds >= target or len(items) == 3:
            break
    if not items:
        raise RuntimeError('no usable prompt in the pool')
    return items


class Synthesiser:
    """(attack, voice, language, prompt) -> 8 kHz trimmed waveform, cached; festival voices are
    run in one batch per voice (`prepare`), the others per prompt."""

    def __init__(self, work: str):
        self.work, self.cache = work, {}

    def prepare(self, attack: str, voice: str, language: str, texts: Dict[str, str], names: List[str]) -> None:
        if ATTACKS[attack][0] != 'festival':
            return
        encoding = 'latin-1' if language == 'it' else 'utf-8'  # Festival's Italian voices read ISO-8859-1
        todo = [name for name in names if (attack, voice, name) not in self.cache]
        for start in range(0, len(todo), 25):  # a prompt Festival cannot say ends its script: small batches
            chunk = todo[start:start + 25]
            script = os.path.join(self.work, f'{voice}.scm')
            with open(script, 'w', encoding=encoding, errors='replace') as handle:
                handle.write(f"(voice_{voice})\n")
                for k, name in enumerate(chunk):
                    text = texts[name].replace('\\', ' ').replace('"', ' ')
                    handle.write(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) '
                                 f'"{self.work}/{voice}_{k}.wav" \'riff)\n')
            subprocess.run(['festival', '-b', script], capture_output=True)
            for k, name in enumerate(chunk):
                path = os.path.join(self.work, f'{voice}_{k}.wav')
                self.cache[(attack, voice, name)] = read_item(path) if os.path.isfile(path) else None
                if os.path.isfile(path):
                    os.remove(path)

    def __call__(self, attack: str, voice: str, language: str, text: str, name: str):
        key = (attack, voice, name)
        if key not in self.cache:
            path = os.path.join(self.work, 'item.wav')
            engine = ATTACKS[attack][0]
            command = (['espeak-ng', '-v', ESPEAK_LANGUAGE[language] + voice, '-w', path, text] if engine == 'espeak'
                       else ['flite', '-voice', voice, '-t', text, '-o', path])
            done = subprocess.run(command, capture_output=True)
            self.cache[key] = read_item(path) if done.returncode == 0 and os.path.isfile(path) else None
        return self.cache[key]


def prompt_pools(rng: np.random.Generator) -> Dict[str, Dict[str, List[str]]]:
    """language -> split -> prompt names: the transcribed prompts, shuffled and shared out; a
    language heard only in eval (ru) gives all its prompts to eval."""
    pools = {}
    for language in ('en', 'es', 'fr', 'it', 'ru'):
        names = sorted(transcripts(language))
        rng.shuffle(names)
        if language == 'ru':
            pools[language] = {'train': [], 'dev': [], 'eval': names}
            continue
        cut_train = int(PROMPT_SHARE['train'] * len(names))
        cut_dev = cut_train + int(PROMPT_SHARE['dev'] * len(names))
        pools[language] = {'train': names[:cut_train], 'dev': names[cut_train:cut_dev], 'eval': names[cut_dev:]}
    return pools


def build(out_dir: str, seed: int = 0) -> Dict[str, int]:
    check_packages(REQUIRED)
    rng = np.random.default_rng(seed)
    pools = prompt_pools(rng)
    texts = {language: transcripts(language) for language in pools}
    recordings: Dict[Tuple[str, str], np.ndarray] = {}

    def recording(speaker: str):
        folder, _ = SPEAKERS[speaker]

        def load(name: str):
            if (speaker, name) not in recordings:
                path = os.path.join(SOUNDS, folder, name + '.wav')
                recordings[(speaker, name)] = read_item(path) if os.path.isfile(path) else None
            return recordings[(speaker, name)]
        return load

    counts = {}
    with tempfile.TemporaryDirectory() as work:
        synthesiser = Synthesiser(work)
        for split in ('train', 'dev', 'eval'):
            per_speaker, per_new_speaker, per_attack = COUNTS[split]
            rows = []
            speakers = [(s, per_speaker) for s in TRAINING_SPEAKERS] + \
                [(s, per_new_speaker) for s in NEW_SPEAKERS if per_new_speaker]
            for speaker, count in speakers:
                pool = pools[SPEAKERS[speaker][1]][split]
                for _ in range(count):
                    items = pick_items(pool, recording(speaker), rng)
                    rows.append((speaker, telephone_channel(join_items(items, rng), rng), '-', 'bonafide'))
            for attack in SEEN + (UNSEEN if split == 'eval' else ()):
                engine, voices, languages = ATTACKS[attack]
                for language in languages:
                    for voice in voices:
                        synthesiser.prepare(attack, voice, language, texts[language], pools[language][split])
                for k in range(per_attack):
                    language, voice = languages[k % len(languages)], voices[int(rng.integers(len(voices)))]

                    def load(name, attack=attack, voice=voice, language=language):
                        return synthesiser(attack, voice, language, texts[language][name], name)
                    items = pick_items(pools[language][split], load, rng)
                    rows.append((f"{attack}_{voice.strip('+') or 'default'}_{language}",
                                 telephone_channel(join_items(items, rng), rng), attack, 'spoof'))
            ids = rng.permutation(9_000_000)[:len(rows)] + 1_000_000
            lines = []
            for (speaker, wave, attack, key), number in zip(rows, ids):
                utt = la19_utt_id(split, number)
                write_flac(la19_audio_path(out_dir, split, utt), wave, OUT_RATE)
                lines.append(la19_row(speaker, utt, attack))
            order = rng.permutation(len(lines))
            write_protocol(la19_protocol_path(out_dir, split), [lines[i] for i in order])
            counts[split] = len(lines)
            bona = sum(1 for row in rows if row[3] == 'bonafide')
            print(f"{split}: {bona} bona fide ({', '.join(s for s, c in speakers)}), {len(rows) - bona} spoof "
                  f"({', '.join(SEEN + (UNSEEN if split == 'eval' else ()))})", flush=True)
    return counts


def trivial_cues(corpus: str) -> Dict[str, Dict[str, float]]:
    """split -> cue -> the EER (percent, the better of both signs) that the cue alone gives:
    duration, RMS, peak, energy below 150 Hz and above 3600 Hz, share of near-silent frames."""
    from data.protocol import read_asvspoof2019
    from evaluation.metrics import compute_eer
    result = {}
    for split in ('train', 'dev', 'eval'):
        values, labels = [], []
        for trial in read_asvspoof2019(corpus, split):
            x, rate = sf.read(trial.path, dtype='float64')
            power, frequencies = np.abs(np.fft.rfft(x)) ** 2, np.fft.rfftfreq(len(x), 1 / rate)
            frames = 10 * np.log10(np.mean(x[:len(x) // 160 * 160].reshape(-1, 160) ** 2, axis=1) + 1e-12)
            values.append([len(x) / rate, np.sqrt(np.mean(x ** 2)), np.abs(x).max(),
                           np.log10(power[frequencies < 150].sum() / power.sum() + 1e-30),
                           np.log10(power[frequencies > 3600].sum() / power.sum() + 1e-30),
                           np.mean(frames < frames.max() - 30)])
            labels.append(trial.label)
        values, labels = np.array(values), np.array(labels)
        names = ('duration', 'rms', 'peak', 'energy < 150 Hz', 'energy > 3600 Hz', 'silent frames')
        result[split] = {name: 100 * min(compute_eer(values[labels == 1, k], values[labels == 0, k])[0],
                                         compute_eer(-values[labels == 1, k], -values[labels == 0, k])[0])
                         for k, name in enumerate(names)}
        print(f"{split:<6}" + '  '.join(f"{name} {eer:4.1f}" for name, eer in result[split].items()), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--check', action='store_true', help='print the EER of each trivial cue alone, build nothing')
    options = parser.parse_args()
    if not options.check:
        build(options.out_dir, options.seed)
    print('EER % of each cue alone (50 = no information):')
    trivial_cues(options.out_dir)
    print(f"corpus ready: python3 -m recipes.study baseline {options.out_dir}")


if __name__ == '__main__':
    main()
