import glob
import os
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import Dataset

from augment.codec import RandomCodec
from augment.rawboost import RandomRawBoost
from data.audio import AudioReadError, read_audio
from data.balanced_loader import BalancedLoader
from data.datasets import EvalDataset, TwoViewDataset
from data.protocol import Trial
from data.views import crop_samples, make_view
from tests.helpers import FIXTURES
from utils.config import ConfigError

FILES = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))


def test_crop_lengths():
    assert crop_samples(404) == 64_600 and crop_samples(303) == 48_440


def test_wrap_padding_and_windows():
    wave = np.arange(10_000, dtype=np.float64)
    rng = np.random.default_rng(0)
    padded = make_view(wave, 64_600, False, rng)
    assert len(padded) == 64_600 and np.array_equal(padded, np.resize(wave, 64_600))
    long_wave = np.arange(100_000, dtype=np.float64)
    assert np.array_equal(make_view(long_wave, 64_600, False, rng), long_wave[:64_600])
    for _ in range(50):
        short = make_view(long_wave, 48_440, True, rng)
        start = int(short[0])
        assert 0 <= start <= 100_000 - 48_440 and np.array_equal(short, long_wave[start:start + 48_440])


def test_codec_sees_the_first_1_2_crops_only_when_applied():
    seen = []

    def codec(p):
        recording = RandomCodec(p)
        recording.codec = lambda x, rng: seen.append(len(x)) or x
        return recording

    wave = np.arange(200_000, dtype=np.float64)
    make_view(wave, 48_440, True, np.random.default_rng(0), codec=codec(1.0))
    assert seen == [int(1.2 * 48_440)]
    # without a codec the whole file is kept: the short window ranges over all of it
    starts = [int(make_view(wave, 48_440, True, np.random.default_rng(s), codec=codec(0.0))[0]) for s in range(40)]
    assert seen == [int(1.2 * 48_440)]
    assert max(starts) > 2 * 48_440


def test_two_view_items_on_real_audio():
    trials = [Trial(os.path.basename(p), p, 1, 'bonafide') for p in FILES]
    dataset = TwoViewDataset(trials, 64_600, 48_440, rawboost=RandomRawBoost(), rand_seed=1)
    long_view, short_view, label = dataset[0]
    assert long_view.shape == (64_600,) and short_view.shape == (48_440,) and label == 1
    assert long_view.dtype == torch.float32
    evaluation = EvalDataset(trials, 64_600)
    wave, utt, attack, label = evaluation[2]
    audio, _ = sf.read(FILES[2])
    assert wave.shape == (64_600,) and utt == os.path.basename(FILES[2]) and attack == 'bonafide'
    assert torch.allclose(wave[:len(audio)], torch.from_numpy(audio).float())
    assert torch.allclose(wave[len(audio):], torch.from_numpy(audio[:64_600 - len(audio)]).float())


def _two_view_loader(world_size=1, rank=0, num_workers=0, **options):
    """4 bona fide + 12 spoof rows of one real file each (the same file throughout, so that only the
    draws tell items apart), batch 8 = 2 + 6: two batches of each loader per epoch."""
    def dataset(count, label, attack):
        rows = [Trial(f'u{i}', FILES[0], label, attack) for i in range(count)]
        return TwoViewDataset(rows, 8_000, 4_000, rawboost=RandomRawBoost(), rand_seed=1)
    return BalancedLoader(dataset(4, 1, 'bonafide'), dataset(12, 0, 'A01'), 8, 0.25, 0.75, world_size=world_size,
                          rank=rank, num_workers=num_workers, rand_seed=1, **options)


def _epoch(loader, epoch, skip=0):
    loader.set_epoch(epoch)
    return list(loader.iterate(skip))


def test_every_item_of_an_epoch_gets_its_own_draws_in_any_worker_or_process():
    views = [view for rank in (0, 1) for batch in _epoch(_two_view_loader(2, rank, num_workers=2), 1)
             for view in batch[1]]
    assert len(views) == 16
    for i in range(len(views)):
        for j in range(i + 1, len(views)):
            assert not torch.equal(views[i], views[j]), (i, j)


def test_two_processes_split_each_one_process_batch_into_disjoint_halves():
    """Item 1 of issue 26: at every step the processes' rows are disjoint and together are the
    one-process batch, views (the augmentation draws) included, with or without workers."""
    single = _epoch(_two_view_loader(), 3)
    halves = [_epoch(_two_view_loader(2, rank, num_workers=rank), 3) for rank in (0, 1)]
    assert len(single) == len(halves[0]) == len(halves[1]) == 2
    for step, whole in enumerate(single):
        parts = [halves[rank][step] for rank in (0, 1)]
        for part in parts:
            assert part[2].tolist() == [1, 0, 0, 0]
        # each row of the whole batch (its long and short view) in exactly one process
        rows = [(long, short) for part in parts for long, short in zip(part[0], part[1])]
        matches = [[r for r, (long, short) in enumerate(rows) if torch.equal(long, wanted_long)
                    and torch.equal(short, wanted_short)] for wanted_long, wanted_short in zip(whole[0], whole[1])]
        assert sorted(m[0] for m in matches) == list(range(8)) and all(len(m) == 1 for m in matches), step


class IndexDataset(Dataset):
    def __init__(self, start, count, label):
        self.start, self.count, self.label = start, count, label

    def __len__(self):
        return self.count

    def __getitem__(self, item):
        index, _ = item     # (index, draw key) from BalancedLoader's sampler
        value = torch.tensor([float(self.start + index)])
        return value, value, self.label


def test_batch_composition_single_process():
    loader = BalancedLoader(IndexDataset(0, 20, 1), IndexDataset(1000, 360, 0), 40, 0.1, 0.9)
    batches = list(loader)
    assert len(batches) == len(loader) == 10
    for long_view, short_view, labels in batches:
        assert labels.tolist() == [1] * 4 + [0] * 36
        assert torch.all(long_view[:4] < 1000) and torch.all(long_view[4:] >= 1000)
    # the bona fide loader (5 batches) restarted to serve 10 spoof batches
    bona_seen = torch.cat([b[0][:4] for b in batches]).flatten().tolist()
    assert sorted(bona_seen[:20]) == list(range(20)) and sorted(bona_seen[20:]) == list(range(20))


def test_the_larger_bona_fide_loader_defines_the_epoch():
    """The published set without vocoder copies: 2,580 / 4 = 645 bona fide batches
    against 22,800 / 36 = 633 spoof ones; here 40 / 4 = 10 against 252 / 36 = 7."""
    loader = BalancedLoader(IndexDataset(0, 40, 1), IndexDataset(1000, 252, 0), 40, 0.1, 0.9)
    batches = list(loader)
    assert len(batches) == len(loader) == 10
    for long_view, _, labels in batches:
        assert labels.tolist() == [1] * 4 + [0] * 36
        assert torch.all(long_view[:4] < 1000) and torch.all(long_view[4:] >= 1000)
    bona_seen = torch.cat([b[0][:4] for b in batches]).flatten().tolist()
    assert sorted(bona_seen) == list(range(40))  # every bona fide item once
    spoof_seen = torch.cat([b[0][4:] for b in batches]).flatten().tolist()
    assert sorted(spoof_seen[:252]) == list(range(1000, 1252))  # spoof loader restarted after 7
    loader.set_epoch(2)
    full = [b[0].flatten().tolist() for b in loader]
    loader.set_epoch(2)
    assert [b[0].flatten().tolist() for b in loader.iterate(skip_batches=8)] == full[8:]


def test_batch_composition_two_ranks_disjoint():
    per_rank = []
    for rank in (0, 1):
        loader = BalancedLoader(IndexDataset(0, 20, 1), IndexDataset(1000, 360, 0), 40, 0.1, 0.9,
                                world_size=2, rank=rank)
        loader.set_epoch(3)
        batches = list(loader)
        for _, _, labels in batches:
            assert labels.tolist() == [1] * 2 + [0] * 18
        per_rank.append(torch.cat([b[0] for b in batches]).flatten().tolist())
    spoof = [set(v for v in values if v >= 1000) for values in per_rank]
    assert not spoof[0] & spoof[1] and len(spoof[0] | spoof[1]) == 360
    bona_first_pass = [set(v for v in values if v < 1000) for values in per_rank]
    assert not bona_first_pass[0] & bona_first_pass[1]


def test_set_epoch_reshuffles():
    loader = BalancedLoader(IndexDataset(0, 20, 1), IndexDataset(1000, 360, 0), 40, 0.1, 0.9)
    loader.set_epoch(0)
    first = next(iter(loader))[0].flatten().tolist()
    loader.set_epoch(1)
    assert next(iter(loader))[0].flatten().tolist() != first


def test_a_process_count_that_does_not_divide_the_batch_is_refused():
    with pytest.raises(ConfigError, match=r'4 bona fide \+ 36 spoof .* 3 processes .* that can: 1, 2, 4'):
        BalancedLoader(IndexDataset(0, 20, 1), IndexDataset(1000, 360, 0), 40, 0.1, 0.9, world_size=3)
    loader = BalancedLoader(IndexDataset(0, 20, 1), IndexDataset(1000, 360, 0), 40, 0.1, 0.9, world_size=4)
    assert (loader.bona_batch, loader.spoof_batch) == (1, 9)


def test_read_audio_resamples_and_averages_channels(tmp_path):
    audio, _ = sf.read(FILES[0])
    stereo = np.stack([audio, audio], axis=1)
    from scipy import signal
    path = str(tmp_path / 'stereo.wav')
    sf.write(path, signal.resample_poly(stereo, 441, 160, axis=0), 44_100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        wave = read_audio(path)
    assert abs(len(wave) - len(audio)) <= 1
    assert np.corrcoef(wave[:len(audio) - 1], audio[:len(audio) - 1])[0, 1] > 0.99
    assert any('44100' in str(w.message) for w in caught)


def test_unreadable_and_empty_files_name_the_path(tmp_path):
    bad = tmp_path / 'bad.flac'
    bad.write_bytes(b'not audio')
    with pytest.raises(AudioReadError, match='bad.flac'):
        read_audio(str(bad))
    empty = str(tmp_path / 'empty.wav')
    sf.write(empty, np.zeros(0), 16_000)
    with pytest.raises(AudioReadError, match='empty.wav holds no samples'):
        read_audio(empty)
    with pytest.raises(AudioReadError, match='bad.flac'):
        EvalDataset([Trial('bad', str(bad), 0, 'A01')], 1000)[0]


def test_training_skips_a_bad_file_and_aborts_past_one_percent(tmp_path, capsys):
    bad = tmp_path / 'bad.flac'
    bad.write_bytes(b'not audio')
    good = [Trial(f'g{i}', str(tmp_path / f'g{i}.flac'), 1, 'bonafide') for i in range(199)]
    for trial in good:
        os.symlink(FILES[0], trial.path)
    dataset = TwoViewDataset(good + [Trial('bad', str(bad), 1, 'bonafide')], 4000, 2000)
    long_view, _, _ = dataset[199]
    assert long_view.shape == (4000,) and dataset.unreadable.count.value == 1
    assert 'bad.flac' in capsys.readouterr().err
    # drawn again in later epochs: still one file, named once, never an abort
    for epoch in range(2, 40):
        assert dataset[199, (0, epoch, 0, 199)][0].shape == (4000,)
    assert dataset.unreadable.count.value == 1 and 'bad.flac' not in capsys.readouterr().err
    # one file listed twice is one file; two distinct bad files of 152 are past 1 %
    worse = tmp_path / 'worse.flac'
    worse.write_bytes(b'')
    dataset = TwoViewDataset(good[:150] + [Trial('bad', str(bad), 1, 'bonafide')] * 2, 4000, 2000)
    dataset[150]
    dataset[151]
    assert dataset.unreadable.count.value == 1
    dataset = TwoViewDataset(good[:150] + [Trial('bad', str(bad), 1, 'bonafide'),
                                           Trial('worse', str(worse), 1, 'bonafide')], 4000, 2000)
    dataset[150]
    with pytest.raises(RuntimeError, match=r'2 of 152 training files are unreadable, more than 1% of the set') as error:
        dataset[151]
    assert 'bad.flac' in str(error.value) and 'worse.flac' in str(error.value)


def test_iterate_can_skip_batches_exactly():
    loader = BalancedLoader(IndexDataset(0, 20, 1), IndexDataset(1000, 360, 0), 40, 0.1, 0.9)
    loader.set_epoch(2)
    full = [b[0].flatten().tolist() for b in loader]
    loader.set_epoch(2)
    resumed = [b[0].flatten().tolist() for b in loader.iterate(skip_batches=7)]
    assert resumed == full[7:]
    assert [b[0].flatten().tolist() for b in loader] == full  # the skip was one-shot


def test_evaluation_reads_only_the_crop_and_gives_the_items_of_a_whole_read(tmp_path):
    """The first samples of a partial read are those of a whole read: a crop shorter and
    longer than the file, and a file at another rate (read whole, then resampled)."""
    long_file, short_file, other_rate = FILES[0], FILES[1], str(tmp_path / 'at_22050.wav')
    wave, rate = sf.read(FILES[2])
    sf.write(other_rate, np.interp(np.arange(0, len(wave), rate / 22050), np.arange(len(wave)), wave), 22050)
    for path, crop in ((long_file, 16_000), (short_file, 10 * sf.info(short_file).frames), (other_rate, 16_000)):
        trials = [Trial('u', path, 1, 'bonafide')]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            item = EvalDataset(trials, crop)[0][0].numpy()
            whole = make_view(read_audio(path), crop, False, None).astype(np.float32)
        assert np.array_equal(item, whole), path
    assert len(read_audio(long_file, max_samples=1000)) == 1000
    assert len(read_audio(other_rate, max_samples=1000)) > 1000     # another rate: read whole


def test_prefetching_and_pinned_memory_leave_the_batches_as_they_are():
    """The loader options change when batches are made and where they live, never which
    items and augmentation draws they hold."""
    trials = [Trial(f'u{i}', FILES[i % 3], 1, 'bonafide') for i in range(8)]

    def batches(**options):
        bona = TwoViewDataset(trials, 8_000, 4_000, rawboost=RandomRawBoost(), rand_seed=1)
        spoof = TwoViewDataset([Trial(t.utt_id, t.path, 0, 'A01') for t in trials], 8_000, 4_000,
                               rawboost=RandomRawBoost(), rand_seed=1)
        loader = BalancedLoader(bona, spoof, 8, 0.25, 0.75, num_workers=2, rand_seed=1, **options)
        loader.set_epoch(1)
        return loader, list(loader)

    plain_loader, plain = batches()
    prefetching_loader, prefetched = batches(prefetch_factor=4, pin_memory=True)
    assert prefetching_loader.loaders[0].prefetch_factor == 4 and plain_loader.loaders[0].prefetch_factor == 2
    assert prefetching_loader.loaders[0].pin_memory and not plain_loader.loaders[0].pin_memory
    assert len(plain) == len(prefetched) > 0
    for a, b in zip(plain, prefetched):
        assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_persistent_workers_start_once_and_draw_as_fresh_workers_do():
    """persistent_workers=True keeps the workers between epochs; the draws are keyed by the
    epoch and the item's position, so every epoch's batches equal fresh workers' (and a
    resumed run's)."""
    fresh, persistent = _two_view_loader(num_workers=2), _two_view_loader(num_workers=2, persistent_workers=True)
    assert persistent.loaders[0].persistent_workers and not fresh.loaders[0].persistent_workers
    first = _epoch(persistent, 1)
    workers = persistent.loaders[0]._iterator._workers
    for epoch, batches in ((1, first), (2, _epoch(persistent, 2))):
        for a, b in zip(_epoch(fresh, epoch), batches):
            assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert persistent.loaders[0]._iterator._workers == workers            # the same worker processes
    assert not torch.equal(first[0][0], _epoch(fresh, 2)[0][0])          # another epoch, other draws


def test_a_resumed_epoch_continues_with_the_uninterrupted_draws():
    whole = _epoch(_two_view_loader(), 2)
    resumed = _epoch(_two_view_loader(num_workers=2), 2, skip=1)
    assert len(resumed) == 1 and all(torch.equal(x, y) for x, y in zip(whole[1], resumed[0]))
