"""Codec augmentation in process (docs/method.md section 5): MP3, Ogg Vorbis, AAC, A-law, mu-law
(and Opus behind a switch). No external program is started (DEVIATION:in-process-codecs:
the authors pipe each item through an ffmpeg process).

MP3, Vorbis and Opus go through libsndfile (soundfile) in memory; AAC through PyAV
(FFmpeg's libraries). Each is an encode to bytes and a decode; every round trip returns a
float64 waveform of exactly the input length (encoder priming removed), at the rate it was
given (`sample_rate`, 16 kHz by default).
"""
import io
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf
from scipy import signal

from augment.codec_cache import CodecCache

AAC_PRIMING_SAMPLES = 1024

# codec -> the qualities drawn uniformly for it (the authors' ffmpeg settings)
QUALITIES: Dict[str, List] = {
    'mp3': list(range(0, 8)),          # LAME VBR quality -V 0..7
    'ogg': list(range(1, 9)),          # Vorbis -q 1..8
    'aac': [32, 64, 96, 128],          # kbit/s
    'alaw': [None],                    # 8 kHz
    'mulaw': [None],                   # 8 kHz
}
OPUS_BITRATES = [16, 24, 32, 64]       # kbit/s, only with codec_opus


def _fit_length(y: np.ndarray, length: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).reshape(-1)[:length]
    return np.pad(y, (0, length - len(y)))


def _soundfile_encode(x: np.ndarray, sample_rate: int, **write_options) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(x, -1, 1), sample_rate, **write_options)
    return buffer.getvalue()


def soundfile_decode(data: bytes, length: int) -> np.ndarray:
    """MP3, Vorbis or Opus bytes (libsndfile) -> float64 samples, `length` of them."""
    y, _ = sf.read(io.BytesIO(data), dtype='float64')
    return _fit_length(y, length)


def mp3_encode(x: np.ndarray, quality: int, sample_rate: int = 16000) -> bytes:
    """LAME VBR at quality 0 (best) .. 9; libsndfile maps compression_level * 10 to it."""
    return _soundfile_encode(x, sample_rate, format='MP3', subtype='MPEG_LAYER_III', bitrate_mode='VARIABLE',
                             compression_level=quality / 10)


def ogg_encode(x: np.ndarray, quality: int, sample_rate: int = 16000) -> bytes:
    """Vorbis at quality 1..10 (-q); libsndfile takes compression_level = 1 - q / 10."""
    return _soundfile_encode(x, sample_rate, format='OGG', subtype='VORBIS', compression_level=1 - quality / 10)


def opus_encode(x: np.ndarray, kbps: int, sample_rate: int = 16000) -> bytes:
    """Opus in Ogg; libsndfile sets the bitrate through compression_level (0 = highest)."""
    return _soundfile_encode(x, sample_rate, format='OGG', subtype='OPUS', compression_level=1 - min(kbps, 128) / 128)


def aac_encode(x: np.ndarray, kbps: int, sample_rate: int = 16000, coder: str = 'twoloop') -> bytes:
    """FFmpeg's native AAC encoder at `kbps` into an in-memory ADTS stream. `coder` is its
    aac_coder: 'twoloop' (FFmpeg's default, as the authors' ffmpeg) or 'fast'
    (DEVIATION:aac-fast-coder: 2.4-6x faster; on real speech its round trips are cleaner,
    SNR 20.9 against 16.6 dB at 32 kbit/s and +0.7..1.0 dB above, with spectra within
    0.3 dB below 7 kHz and 1.6 dB lower above 7 kHz at 32 kbit/s)."""
    import av
    buffer = io.BytesIO()
    with av.open(buffer, 'w', format='adts') as container:
        stream = container.add_stream('aac', rate=sample_rate)
        stream.bit_rate = kbps * 1000
        stream.layout = 'mono'
        stream.codec_context.options = {'aac_coder': coder}
        frame = av.AudioFrame.from_ndarray(np.clip(x, -1, 1).astype(np.float32)[None], format='flt', layout='mono')
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def aac_decode(data: bytes, length: int) -> np.ndarray:
    """ADTS AAC bytes -> float64 samples, `length` of them after the encoder's priming."""
    import av
    with av.open(io.BytesIO(data), 'r', format='adts') as container:
        decoded = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
    return _fit_length(decoded[AAC_PRIMING_SAMPLES:], length)


# codec -> (encode(x, quality, sample_rate) -> bytes, decode(bytes, length) -> samples)
ENCODERS: Dict[str, Tuple[Callable[..., bytes], Callable[[bytes, int], np.ndarray]]] = {
    'mp3': (mp3_encode, soundfile_decode),
    'ogg': (ogg_encode, soundfile_decode),
    'opus': (opus_encode, soundfile_decode),
    'aac': (aac_encode, aac_decode),
}


def mp3_round_trip(x: np.ndarray, quality: int, sample_rate: int = 16000) -> np.ndarray:
    return soundfile_decode(mp3_encode(x, quality, sample_rate), len(x))


def aac_round_trip(x: np.ndarray, kbps: int, sample_rate: int = 16000) -> np.ndarray:
    return aac_decode(aac_encode(x, kbps, sample_rate), len(x))


def _mu_law_curve(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    return np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)


def _mu_law_expand(y: np.ndarray, mu: float = 255.0) -> np.ndarray:
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


def _a_law_curve(x: np.ndarray, a: float = 87.6) -> np.ndarray:
    magnitude = np.abs(x)
    small = magnitude < 1 / a
    safe = np.maximum(a * magnitude, 1.0)
    compressed = np.where(small, a * magnitude, 1 + np.log(safe)) / (1 + np.log(a))
    return np.sign(x) * compressed


def _a_law_expand(y: np.ndarray, a: float = 87.6) -> np.ndarray:
    magnitude = np.abs(y) * (1 + np.log(a))
    expanded = np.where(magnitude < 1, magnitude / a, np.exp(magnitude - 1) / a)
    return np.sign(y) * expanded


def _quantise_8bit(y: np.ndarray) -> np.ndarray:
    return np.round(np.clip(y, -1, 1) * 127) / 127


def g711_round_trip(x: np.ndarray, law: str, round_trip: bool = False, sample_rate: int = 16000) -> np.ndarray:
    """FFT-resample to 8 kHz, peak-normalise if above 1, compress, FFT-resample to `sample_rate`.

    QUIRK:g711-curve-only (round_trip False): only the compression curve is applied, a static
    non-linear distortion. round_trip True quantises to 8 bits and expands: a real G.711
    round trip. QUIRK:g711-no-renorm: as in the authors' code the result is not peak-normalised after the
    resampling back, so the FFT resampling's ripple may take it slightly past [-1, 1].
    """
    narrow = signal.resample(x, int(round(len(x) * 8000 / sample_rate)))
    peak = np.max(np.abs(narrow))
    if peak > 1:
        narrow = narrow / peak
    curve, expand = (_a_law_curve, _a_law_expand) if law == 'alaw' else (_mu_law_curve, _mu_law_expand)
    coded = curve(narrow)
    if round_trip:
        coded = expand(_quantise_8bit(coded))
    return signal.resample(coded, len(x))


class CodecAugment:
    """Draw a codec uniformly, then a quality uniformly for it, and round-trip the waveform.
    With `codec_cache` (a folder), the encoded bytes of each round trip are kept there and
    decoded again when the same samples meet the same codec and quality (augment/codec_cache.py)."""

    def __init__(self, codec_opus: bool = False, g711_round_trip: bool = False, sample_rate: int = 16000,
                 codec_cache: Optional[str] = None, codec_aac_coder: str = 'twoloop'):
        self.g711_round_trip, self.sample_rate, self.aac_coder = g711_round_trip, sample_rate, codec_aac_coder
        self.cache = CodecCache(codec_cache) if codec_cache else None
        self.qualities = dict(QUALITIES)
        if codec_opus:
            self.qualities['opus'] = list(OPUS_BITRATES)
        self.codecs = list(self.qualities)

    def draw(self, rng: np.random.Generator) -> Tuple[str, object]:
        codec = self.codecs[rng.integers(len(self.codecs))]
        options = self.qualities[codec]
        return codec, options[rng.integers(len(options))]

    def apply(self, x: np.ndarray, codec: str, quality) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if codec in ('alaw', 'mulaw'):
            return g711_round_trip(x, codec, self.g711_round_trip, self.sample_rate)
        encode, decode = ENCODERS[codec]
        setting = f"{codec} {quality}"
        if codec == 'aac':
            encode, setting = partial(encode, coder=self.aac_coder), f"{setting} {self.aac_coder}"
        if self.cache is None:
            return decode(encode(x, quality, self.sample_rate), len(x))
        return self.cache.round_trip(x, setting, self.sample_rate, lambda w: encode(w, quality, self.sample_rate),
                                     decode)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        codec, quality = self.draw(rng)
        return self.apply(x, codec, quality)


class RandomCodec:
    """Apply CodecAugment with probability codec_p (0.8 by default): (x, rng, keep) -> x.

    QUIRK:codec-cut: only when the codec is applied is the waveform first cut to its first `keep`
    samples (codec_crop_factor x the crop: the authors encode 1.2 x the crop, not the whole file);
    otherwise it is returned whole, so a later random window ranges over the whole file.
    """

    def __init__(self, codec_p: float = 0.8, codec_opus: bool = False, g711_round_trip: bool = False,
                 sample_rate: int = 16000, codec_cache: Optional[str] = None, codec_aac_coder: str = 'twoloop'):
        self.p = codec_p
        self.codec = CodecAugment(codec_opus, g711_round_trip, sample_rate, codec_cache, codec_aac_coder)

    def __call__(self, x: np.ndarray, rng: np.random.Generator, keep: Optional[int] = None) -> np.ndarray:
        if rng.random() >= self.p:
            return x
        return self.codec(x[:keep], rng)
