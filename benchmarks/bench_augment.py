"""Per-call time of each augmentation and of the whole per-item pipeline, next to the
authors' way (an ffmpeg subprocess per conversion) when ffmpeg is installed.

    python3 benchmarks/bench_augment.py [--repeats 20]

Runs on one core (torch and BLAS threads set to 1).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from augment.batch_augment import BatchAugment  # noqa: E402
from augment.codec import RandomCodec, aac_round_trip, g711_round_trip, mp3_round_trip, ogg_round_trip  # noqa: E402
from augment.colored_noise import AddColoredNoise  # noqa: E402
from augment.rawboost import (RandomRawBoost, isd_additive_noise, lnl_convolutive_noise,  # noqa: E402
                              ssi_additive_noise)
from data.views import crop_samples, make_view  # noqa: E402

FIXTURE = os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', 'LA_T_1272637.flac')


def timed(function, repeats):
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def ffmpeg_round_trip(x, extension, codec_options):
    """The authors' way: write a file, probe it, run ffmpeg to encode and again to decode, read."""
    with tempfile.TemporaryDirectory() as folder:
        source, coded, decoded = (os.path.join(folder, name) for name in ('in.wav', f'c.{extension}', 'out.wav'))
        sf.write(source, x, 16000)
        subprocess.run(['ffprobe', '-loglevel', 'error', '-show_streams', source], check=True, capture_output=True)
        subprocess.run(['ffmpeg', '-y', '-loglevel', 'error', '-i', source, *codec_options, coded], check=True)
        subprocess.run(['ffmpeg', '-y', '-loglevel', 'error', '-i', coded, '-ar', '16000', decoded], check=True)
        return sf.read(decoded)[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--repeats', type=int, default=20)
    repeats = parser.parse_args().repeats
    torch.set_num_threads(1)
    speech, _ = sf.read(FIXTURE)
    long_crop, short_crop = crop_samples(404), crop_samples(303)
    x = np.pad(speech, (0, int(1.2 * long_crop) - len(speech)), mode='wrap')  # 4.8 s clip
    rng = np.random.default_rng(0)
    have_ffmpeg = shutil.which('ffmpeg') is not None

    rows = [
        ('MP3 VBR q4', lambda: mp3_round_trip(x, 4), ('mp3', ['-q:a', '4'])),
        ('Ogg Vorbis q4', lambda: ogg_round_trip(x, 4), ('ogg', ['-c:a', 'libvorbis', '-q:a', '4'])),
        ('AAC 64 kbit/s', lambda: aac_round_trip(x, 64), ('m4a', ['-c:a', 'aac', '-b:a', '64k'])),
        ('A-law curve', lambda: g711_round_trip(x, 'alaw'), None),
        ('mu-law curve', lambda: g711_round_trip(x, 'mulaw'), None),
        ('RawBoost LnL', lambda: lnl_convolutive_noise(x[:long_crop], rng), None),
        ('RawBoost ISD', lambda: isd_additive_noise(x[:long_crop], rng), None),
        ('RawBoost SSI', lambda: ssi_additive_noise(x[:long_crop], rng), None),
    ]
    print(f"one core, 4.8 s clip, mean of {repeats} calls")
    print(f"{'augmentation':<16}{'in-process ms':>15}{'ffmpeg subprocess ms':>22}{'speed-up':>10}")
    for name, function, ffmpeg in rows:
        ours = timed(function, repeats) * 1000
        theirs = ''
        ratio = ''
        if ffmpeg is not None and have_ffmpeg:
            extension, options = ffmpeg
            external = timed(lambda: ffmpeg_round_trip(x, extension, options), max(3, repeats // 4)) * 1000
            theirs, ratio = f"{external:.1f}", f"{external / ours:.1f}x"
        elif ffmpeg is not None:
            theirs = 'no ffmpeg'
        print(f"{name:<16}{ours:>15.1f}{theirs:>22}{ratio:>10}")

    batch = BatchAugment(AddColoredNoise(), [0.9, 1.1, 1.0])
    wave = torch.randn(8, long_crop)
    print(f"{'batch noise+speed (8 x 64,600)':<32}{timed(lambda: batch(wave), repeats) * 1000:.1f} ms")

    codec, boost = RandomCodec(0.8), RandomRawBoost()

    def item():
        audio, _ = sf.read(FIXTURE)
        make_view(audio, long_crop, False, rng, codec, 1.2, boost)
        make_view(audio, short_crop, True, rng, codec, 1.2, boost)

    items = max(repeats * 5, 50)
    per_item = timed(item, items)
    print(f"whole per-item pipeline (read, codec p=0.8, crop, RawBoost; both views): "
          f"{per_item * 1000:.1f} ms/item = {1 / per_item:.1f} items/s on one core")


if __name__ == '__main__':
    main()
