"""Items/s of the per-item training pipeline on one core, in the process that runs it:
`TwoViewDataset[i]` (read, codec p = 0.8, crop, RawBoost, both views) over a fixed
sequence of items with a fixed seed, so that two checkouts given the same files do the
same work. Run by benchmarks.bench_data, which points PYTHONPATH at the checkout to time:

    PYTHONPATH=CHECKOUT python3 benchmarks/pipeline_rate.py FILE ... [--items 200] [--no-rawboost]
                                                             [--codec-cache DIR]

Without the options only interfaces that every revision of this repository has are used.
"""
import argparse
import os
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('files', nargs='+')
    parser.add_argument('--items', type=int, default=200)
    parser.add_argument('--no-rawboost', action='store_true')
    parser.add_argument('--codec-cache')
    options = parser.parse_args()

    import torch
    from augment.codec import RandomCodec
    from augment.rawboost import RandomRawBoost
    from data.datasets import TwoViewDataset
    from data.protocol import Trial
    from data.views import crop_samples

    torch.set_num_threads(1)
    trials = [Trial(os.path.basename(path), path, 1, 'bonafide') for path in options.files]
    rawboost = None if options.no_rawboost else RandomRawBoost()
    codec = RandomCodec(0.8, codec_cache=options.codec_cache) if options.codec_cache else RandomCodec(0.8)
    dataset = TwoViewDataset(trials, crop_samples(404), crop_samples(303), codec, rawboost, rand_seed=0)
    dataset.set_epoch(0)
    dataset[0]   # imports and first-call set-up outside the timing
    start = time.perf_counter()
    for i in range(options.items):
        dataset[i % len(trials)]
    print(options.items / (time.perf_counter() - start))


if __name__ == '__main__':
    main()
