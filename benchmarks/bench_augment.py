"""Per-call time of each augmentation and of the whole per-item pipeline, next to the
authors' way (an ffmpeg subprocess per conversion) when ffmpeg is installed.

    python3 -m benchmarks.bench_augment [--repeats 20]

Runs on one core (torch and BLAS threads set to 1).
"""
import argparse
import os
import shutil
import subprocess
import tempfile
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import numpy as np
import soundfile as sf
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from augment.batch_augment import BatchAugment
from augment.codec import QUALITIES, CodecAugment, RandomCodec, g711_round_trip
from augment.colored_noise import AddColoredNoise
from augment.rawboost import (RandomRawBoost, isd_additive_noise, lnl_convolutive_noise,
                              ssi_additive_noise)
from benchmarks.published import published
from data.views import crop_samples, make_view

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

    codec = CodecAugment()
    ffmpeg_options = {
        'mp3': lambda q: ('mp3', ['-c:a', 'libmp3lame', '-q:a', str(q)]),
        'ogg': lambda q: ('ogg', ['-c:a', 'libvorbis', '-q:a', str(q)]),
        'aac': lambda q: ('m4a', ['-c:a', 'aac', '-b:a', f'{q}k']),
    }
    print(f"one core, 4.8 s clip of real speech, mean of {repeats} calls ({max(3, repeats // 4)} through ffmpeg)")
    print(f"{'augmentation':<22}{'in-process ms':>15}{'ffmpeg subprocess ms':>22}{'speed-up':>10}")
    for name, make in ffmpeg_options.items():
        ours_all, theirs_all = [], []
        for quality in QUALITIES[name]:
            ours = timed(lambda: codec.apply(x, name, quality), repeats) * 1000
            ours_all.append(ours)
            if have_ffmpeg:
                extension, options = make(quality)
                theirs = timed(lambda: ffmpeg_round_trip(x, extension, options), max(3, repeats // 4)) * 1000
                theirs_all.append(theirs)
                print(f"{name + ' ' + str(quality):<22}{ours:>15.1f}{theirs:>22.1f}{theirs / ours:>9.1f}x")
            else:
                print(f"{name + ' ' + str(quality):<22}{ours:>15.1f}{'no ffmpeg':>22}")
        mean_ours = float(np.mean(ours_all))
        if theirs_all:
            mean_theirs = float(np.mean(theirs_all))
            print(f"{name + ' (mean of draw)':<22}{mean_ours:>15.1f}{mean_theirs:>22.1f}{mean_theirs / mean_ours:>9.1f}x")
    for name, function in (('A-law curve', lambda: g711_round_trip(x, 'alaw')),
                           ('mu-law curve', lambda: g711_round_trip(x, 'mulaw')),
                           ('RawBoost LnL', lambda: lnl_convolutive_noise(x[:long_crop], rng)),
                           ('RawBoost ISD', lambda: isd_additive_noise(x[:long_crop], rng)),
                           ('RawBoost SSI', lambda: ssi_additive_noise(x[:long_crop], rng))):
        print(f"{name:<22}{timed(function, repeats) * 1000:>15.1f}")

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
    with published('bench_augment'):
        main()
