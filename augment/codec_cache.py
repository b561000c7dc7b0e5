"""Encoded bytes of codec round trips kept on disk (codec_cache=FOLDER).

A view's codec input is the first codec_crop_factor x crop samples of an unaugmented file,
so over a run the same samples meet the same codec and quality again: with the published
draws (codec_p 0.8, five codecs, then a quality) a file's view meets each MP3 or Vorbis
quality about 3 times in 150 epochs and each AAC bit rate about 6 times, so about a quarter
of the encodes remain. Encoding is most of a round trip's cost (an MP3 of 4.8 s: 21 ms to
encode, 1.2 ms to decode), so the bytes are kept and only decoded when found: the outputs
are those of a fresh round trip, bit for bit.

The key is a hash of the samples themselves with the codec, the quality, the rate and the
libraries' versions: a changed file, crop or library can never find stale bytes. Entries
are written to a temporary name and renamed, so the loader workers of several processes can
share one folder. Each entry carries its length and a checksum of its bytes: one cut short,
overwritten or otherwise damaged is never decoded (a truncated MP3 still decodes, to other
samples) but encoded again and replaced.
"""
import hashlib
import os
import tempfile
from typing import Callable, Optional

import numpy as np
import soundfile as sf

# an entry: MAGIC, the length of the encoded bytes (8 bytes, little-endian), their blake2b-16, the bytes
MAGIC = b'EBM-codec-cache-1\n'
HEADER_SIZE = len(MAGIC) + 8 + 16


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _library_versions() -> str:
    import av
    return f"libsndfile {sf.__libsndfile_version__}, PyAV {av.__version__}"


class CodecCache:
    """Encoded bytes under `folder`/<2 hex>/<32 hex>, keyed by what they encode."""

    def __init__(self, folder: str):
        self.folder = folder
        self.versions = _library_versions()

    def key(self, x: np.ndarray, setting: str, sample_rate: int) -> str:
        """`setting` names the encoder and its options (e.g. 'mp3 3', 'aac 64 twoloop')."""
        digest = hashlib.blake2b(np.ascontiguousarray(x, dtype=np.float64).tobytes(), digest_size=16)
        digest.update(f"{setting}|{sample_rate}|{self.versions}".encode())
        return digest.hexdigest()

    def path(self, key: str) -> str:
        return os.path.join(self.folder, key[:2], key)

    def read(self, key: str) -> Optional[bytes]:
        """The encoded bytes of `key`, or None when the entry is missing or fails its check."""
        try:
            with open(self.path(key), 'rb') as handle:
                entry = handle.read()
        except FileNotFoundError:
            return None
        header, data = entry[:HEADER_SIZE], entry[HEADER_SIZE:]
        if len(header) < HEADER_SIZE or header[:len(MAGIC)] != MAGIC:
            return None
        length = int.from_bytes(header[len(MAGIC):len(MAGIC) + 8], 'little')
        if length != len(data) or header[len(MAGIC) + 8:] != _checksum(data):
            return None
        return data

    def write(self, key: str, data: bytes) -> None:
        folder = os.path.dirname(self.path(key))
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix='.partial-')
        with os.fdopen(handle, 'wb') as out:
            out.write(MAGIC + len(data).to_bytes(8, 'little') + _checksum(data) + data)
        os.replace(temporary, self.path(key))

    def round_trip(self, x: np.ndarray, setting: str, sample_rate: int, encode: Callable[[np.ndarray], bytes],
                   decode: Callable[[bytes, int], np.ndarray]) -> np.ndarray:
        """decode(encode(x)), the encoding read from the folder when it is there."""
        key = self.key(x, setting, sample_rate)
        data = self.read(key)
        if data is not None:
            try:
                return decode(data, len(x))
            except Exception:   # a damaged entry: encode again and replace it
                pass
        data = encode(x)
        self.write(key, data)
        return decode(data, len(x))
