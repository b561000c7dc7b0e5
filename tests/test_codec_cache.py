"""codec_cache: the encoded bytes of round trips kept on disk give the outputs of fresh
round trips bit for bit, encode each (samples, codec, quality) once, never serve bytes of
other samples, and survive a damaged entry."""
import glob
import os

import numpy as np
import pytest
import soundfile as sf

from augment import codec as codec_module
from augment.codec import QUALITIES, CodecAugment, RandomCodec
from augment.codec_cache import HEADER_SIZE, CodecCache
from tests.helpers import FIXTURES

ENCODED = [(codec, quality) for codec, qualities in QUALITIES.items() for quality in qualities
           if codec in codec_module.ENCODERS]


def _speech(samples=20_000):
    path = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))[0]
    return sf.read(path, dtype='float64')[0][:samples]


def _entries(folder):
    return sorted(p for p in glob.glob(os.path.join(folder, '*', '*')) if not os.path.basename(p).startswith('.'))


@pytest.mark.parametrize('codec,quality', ENCODED)
def test_a_cached_round_trip_is_the_fresh_one_bit_for_bit(tmp_path, codec, quality):
    x = _speech()
    fresh = CodecAugment().apply(x, codec, quality)
    cached = CodecAugment(codec_cache=str(tmp_path))
    first, again = cached.apply(x, codec, quality), cached.apply(x, codec, quality)
    assert np.array_equal(first, fresh) and np.array_equal(again, fresh)
    assert len(_entries(tmp_path)) == 1


def test_found_bytes_are_decoded_not_encoded_and_other_samples_get_their_own(tmp_path, monkeypatch):
    x = _speech()
    cached = CodecAugment(codec_cache=str(tmp_path))
    expected = cached.apply(x, 'mp3', 3)
    encode, decode = codec_module.ENCODERS['mp3']

    def refuse(*_):
        raise AssertionError('encoded again')
    monkeypatch.setitem(codec_module.ENCODERS, 'mp3', (refuse, decode))
    assert np.array_equal(cached.apply(x, 'mp3', 3), expected)
    monkeypatch.setitem(codec_module.ENCODERS, 'mp3', (encode, decode))
    others = (0.5 * x, x[:-1], np.concatenate([x[:100] + 1e-9, x[100:]]))      # quieter, shorter, 100 samples moved
    for count, other in enumerate(others, start=2):
        assert np.array_equal(cached.apply(other, 'mp3', 3), CodecAugment().apply(other, 'mp3', 3))
        assert len(_entries(tmp_path)) == count                                    # an entry of its own
    cached.apply(x, 'mp3', 4)                                                        # another quality
    cached.apply(x, 'ogg', 3)                                                        # another codec
    assert len(_entries(tmp_path)) == 6


def test_a_damaged_entry_is_encoded_again_and_replaced(tmp_path):
    x = _speech()
    cached = CodecAugment(codec_cache=str(tmp_path))
    expected = cached.apply(x, 'aac', 64)
    (entry,) = _entries(tmp_path)
    with open(entry, 'wb') as handle:
        handle.write(b'not an ADTS stream')
    assert np.array_equal(cached.apply(x, 'aac', 64), expected)
    with open(entry, 'rb') as handle:
        assert handle.read() != b'not an ADTS stream'


def test_the_key_names_the_libraries_so_an_upgrade_finds_nothing_stale(tmp_path):
    cache = CodecCache(str(tmp_path))
    x = _speech(1_000)
    key = cache.key(x, 'mp3 3', 16000)
    cache.versions = cache.versions + ' (another build)'
    assert cache.key(x, 'mp3 3', 16000) != key


def test_the_random_codec_with_a_cache_draws_and_outputs_as_without(tmp_path):
    """The cache changes neither the draws nor the outputs of RandomCodec over a sequence of calls."""
    x = _speech(30_000)
    plain, cached = RandomCodec(1.0), RandomCodec(1.0, codec_cache=str(tmp_path))
    rng_plain, rng_cached = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(12):
        assert np.array_equal(plain(x, rng_plain, 24_000), cached(x, rng_cached, 24_000))
    assert rng_plain.random() == rng_cached.random()


def test_the_aac_coder_switch_reaches_the_encoder_and_its_own_cache_entries(tmp_path):
    """codec_aac_coder='fast' (DEVIATION:aac-fast-coder) gives other bytes than FFmpeg's default
    twoloop coder, each kept under its own key; the default is twoloop."""
    x = _speech()
    assert CodecAugment().aac_coder == 'twoloop'
    twoloop = CodecAugment(codec_cache=str(tmp_path)).apply(x, 'aac', 32)
    fast = CodecAugment(codec_cache=str(tmp_path), codec_aac_coder='fast').apply(x, 'aac', 32)
    assert np.array_equal(twoloop, CodecAugment().apply(x, 'aac', 32))
    assert not np.array_equal(twoloop, fast) and np.corrcoef(twoloop, fast)[0, 1] > 0.9
    assert len(_entries(tmp_path)) == 2


@pytest.mark.parametrize('damage', ['truncated', 'payload_flipped', 'without_header'])
def test_a_truncated_or_altered_entry_is_never_decoded_but_encoded_again(tmp_path, damage):
    """An MP3 cut short still decodes, to other samples: the entry's length and checksum catch
    it (and any other change), so the output stays the fresh round trip's, bit for bit."""
    x = _speech()
    cached = CodecAugment(codec_cache=str(tmp_path))
    expected = cached.apply(x, 'mp3', 3)
    (entry,) = _entries(tmp_path)
    with open(entry, 'rb') as handle:
        whole = handle.read()
    header, payload = whole[:HEADER_SIZE], whole[HEADER_SIZE:]
    damaged = {'truncated': whole[:HEADER_SIZE + len(payload) // 2],
               'payload_flipped': header + payload[:100] + bytes([payload[100] ^ 1]) + payload[101:],
               'without_header': payload}[damage]
    if damage == 'truncated':     # what a cache without the check served: a cut MP3 decodes, to other samples
        _, decode = codec_module.ENCODERS['mp3']
        assert not np.array_equal(decode(payload[:len(payload) // 2], len(x)), expected)
    with open(entry, 'wb') as handle:
        handle.write(damaged)
    assert np.array_equal(cached.apply(x, 'mp3', 3), expected)
    with open(entry, 'rb') as handle:
        assert handle.read() == whole


@pytest.mark.parametrize('kind', ['file', 'unwritable'])
def test_an_unusable_cache_folder_is_named(tmp_path, kind):
    from trainer.launch import check_cache_folder
    from utils.config import ConfigError
    folder = tmp_path / 'cache'
    if kind == 'file':
        folder.write_text('not a folder')
    else:
        folder = '/proc/ebm_codec_cache'
    with pytest.raises(ConfigError, match='codec_cache=.*cannot be used'):
        check_cache_folder(str(folder))
