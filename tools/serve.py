"""A local web page for a trained detector: drop (or record) a file, see the decision.

    python3 -m tools.serve --checkpoint C [--port 8000] [--host 127.0.0.1] [--max-seconds 600]

Open http://127.0.0.1:8000/ : the page shows the decision, the LLR and P(bona fide) at the
prior P(spoof) you choose (when the checkpoint holds a calibration), the share of windows
judged spoof and the timeline of `tools.infer --segments` (the file is judged by its
lowest-scoring window). Scripts get the same as JSON:

    curl --data-binary @file.flac 'http://127.0.0.1:8000/api/score?name=file.flac&p_spoof=0.05'

Any sample rate and channel count; FLAC, WAV, OGG, MP3 and what the browser records (WebM /
Ogg Opus, decoded with PyAV). A bad upload (empty, not audio, longer than --max-seconds: read
from the file's header before decoding, a malformed Content-Length) gets a message, never a
stack trace; chunked uploads are read. Several users at once: up to --max-threads requests are
served together (the others wait in a listen backlog of 128), an upload that stalls for
--read-timeout seconds is dropped, and the detector scores one file at a time, in batches of
windows. Standard library only: nothing to install beyond the repository's requirements. The
server listens on localhost unless --host says otherwise.
"""
import argparse
import base64
import json
import os
import sys
import tempfile
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlparse

import numpy as np
import soundfile as sf
import torch

from data.audio import AudioReadError, read_audio
from evaluation.segments import timeline_png, windows_as_dicts
from inference import NO_THRESHOLD, Detector
from tools.infer import checked_device
from utils.checkpoint_file import CheckpointError

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'web', 'index.html')
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class UploadError(ValueError):
    """An upload that cannot be scored; its message is shown on the page."""


class UploadTooLarge(UploadError):
    """An upload past MAX_UPLOAD_BYTES (413)."""


def _too_long(name: str, seconds: float, max_seconds: float) -> UploadError:
    return UploadError(f"{name or 'the upload'} lasts {seconds:.0f} s; this server scores at most "
                       f"{max_seconds:g} s (--max-seconds)")


def decode_upload(data: bytes, name: str, sample_rate: int, max_seconds: float = float('inf')) -> np.ndarray:
    """Mono float64 samples at `sample_rate` from an uploaded file's bytes: soundfile's formats
    as tools.infer reads them, else any container PyAV decodes (a browser's recording). A file
    longer than `max_seconds` is refused from its header (or, for a stream without a length,
    as soon as decoding passes it), never decoded whole first."""
    if not data:
        raise UploadError('the upload is empty: choose or record a file first')
    suffix = os.path.splitext(name)[1].lower()[:8] or '.audio'
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        try:
            info = sf.info(handle.name)
        except Exception:   # not a format libsndfile knows: PyAV below
            info = None
        if info is not None and info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
            raise _too_long(name, info.frames / info.samplerate, max_seconds)
        try:
            return read_audio(handle.name, sample_rate)
        except AudioReadError as error:
            first = str(error).replace(handle.name, name or 'the upload')
        try:
            return _decode_with_av(handle.name, sample_rate, max_seconds, name)
        except UploadError:
            raise
        except Exception:  # PyAV's errors are many; the message below says what was tried
            raise UploadError(f"{name or 'the upload'} is not audio this server can read ({first})") from None


def _decode_with_av(path: str, sample_rate: int, max_seconds: float, name: str) -> np.ndarray:
    """Any container and codec FFmpeg knows, mixed to mono and resampled by FFmpeg itself;
    UploadError once the container's stated duration or the samples decoded pass `max_seconds`."""
    import av
    resampler = av.AudioResampler(format='dbl', layout='mono', rate=sample_rate)
    limit, frames, decoded = max_seconds * sample_rate, [], 0
    with av.open(path) as container:
        if container.duration is not None and container.duration / 1e6 > max_seconds:
            raise _too_long(name, container.duration / 1e6, max_seconds)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                frames.append(out.to_ndarray().reshape(-1))
                decoded += len(frames[-1])
            if decoded > limit:
                raise _too_long(name, decoded / sample_rate, max_seconds)
    frames += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    wave = np.concatenate(frames) if frames else np.zeros(0)
    if not len(wave) or not np.isfinite(wave).all():
        raise ValueError('no finite samples')
    return wave


class ScoringService:
    """The checkpoint's detector (inference.Detector) behind a lock: one request scores at a time."""

    def __init__(self, checkpoint: str, device: torch.device, max_seconds: float = 600.0, hop: float = 1.0,
                 trust: bool = False):
        self.detector = Detector.from_pretrained(checkpoint, device, trust)
        if self.detector.threshold is None:
            raise CheckpointError(f"{checkpoint} {NO_THRESHOLD}")
        self.threshold, self.calibration = self.detector.threshold, self.detector.calibration
        self.max_seconds, self.hop, self.checkpoint = max_seconds, hop, checkpoint
        self.lock = threading.Lock()

    def score(self, data: bytes, name: str, p_spoof: float) -> dict:
        if not 0 < p_spoof < 1:
            raise UploadError(f"P(spoof) {p_spoof:g}: must lie strictly between 0 and 1")
        rate = self.detector.sample_rate
        wave = decode_upload(data, name, rate, self.max_seconds)
        seconds = len(wave) / rate
        if seconds > self.max_seconds:
            raise _too_long(name, seconds, self.max_seconds)
        with self.lock:
            windows, verdict = self.detector.segments(wave, self.hop)
        lowest = min(windows, key=lambda w: w.score)
        result = {'name': name, 'seconds': seconds, **verdict, 'threshold': self.threshold, 'p_spoof': p_spoof,
                  'llr': lowest.llr, 'p_bona_fide': self.detector.p_bona_fide(lowest.score, p_spoof),
                  'windows': windows_as_dicts(windows), 'band_note': self.detector.band_note(wave)}
        image = timeline_png(wave, rate, windows, self.threshold, self.detector.llr(self.threshold),
                             f"{name}: {verdict['decision']}")
        result['timeline'] = 'data:image/png;base64,' + base64.b64encode(image).decode()
        return result


def _number(query: dict, key: str, default: float) -> float:
    text = query.get(key, [str(default)])[0]
    try:
        return float(text)
    except ValueError:
        raise UploadError(f"{key} {text!r}: not a number") from None


def _content_length(text: Optional[str]) -> int:
    """The upload's length from its Content-Length header (0 when absent); UploadError for one
    that is not a whole number of bytes."""
    if text is None:
        return 0
    if not text.strip().isdigit():
        raise UploadError(f"Content-Length {text!r}: must be a whole number of bytes")
    return int(text)


def _too_large(length: int) -> UploadTooLarge:
    return UploadTooLarge(f'the upload has {length / 2 ** 20:.0f} MB; at most {MAX_UPLOAD_BYTES / 2 ** 20:.0f} MB are '
                       f'accepted')


def read_chunked(stream, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The body of a `Transfer-Encoding: chunked` request (RFC 9112 section 7.1); UploadError for
    a malformed chunk size or a body past `limit` bytes."""
    body = bytearray()
    while True:
        line = stream.readline(1024).split(b';')[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise UploadError(f"chunked upload: {line[:20]!r} is not a chunk size") from None
        if size == 0:
            while stream.readline(1024).strip():      # trailer fields, up to the empty line
                pass
            return bytes(body)
        if len(body) + size > limit:
            raise _too_large(len(body) + size)
        body += stream.read(size)
        stream.readline(1024)                         # the CRLF after the chunk


def make_handler(service: ScoringService, read_timeout: float = 30.0):
    class Handler(BaseHTTPRequestHandler):
        timeout = read_timeout      # seconds a connection may stall (StreamRequestHandler sets it on the socket)

        def log_message(self, format, *args):  # quiet: one line per request is noise on a local page
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode(), 'application/json')

        def do_GET(self) -> None:
            path = urlparse(self.path).path
            if path in ('/', '/index.html'):
                with open(PAGE, 'rb') as handle:
                    self._send(HTTPStatus.OK, handle.read(), 'text/html; charset=utf-8')
            elif path == '/api/info':
                self._json(HTTPStatus.OK, {'checkpoint': os.path.basename(service.checkpoint),
                                           'backbone': service.detector.args['backbone'],
                                           'threshold': service.threshold,
                                           'calibrated': service.calibration is not None,
                                           'max_seconds': service.max_seconds})
            else:
                self._json(HTTPStatus.NOT_FOUND, {'error': f'no page {path}'})

        def do_POST(self) -> None:
            url = urlparse(self.path)
            if url.path != '/api/score':
                self._json(HTTPStatus.NOT_FOUND, {'error': f'no endpoint {url.path}'})
                return
            query = parse_qs(url.query)
            try:
                data = self._body()
            except UploadError as error:
                self.close_connection = True          # what is left of the body is not read
                too_large = isinstance(error, UploadTooLarge)
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if too_large else HTTPStatus.BAD_REQUEST,
                           {'error': str(error)})
                return
            except TimeoutError:
                self.close_connection = True
                self._json(HTTPStatus.REQUEST_TIMEOUT, {'error': f'the upload stalled for {read_timeout:g} s'})
                return
            try:
                result = service.score(data, query.get('name', ['upload'])[0], _number(query, 'p_spoof', 0.05))
            except UploadError as error:
                self._json(HTTPStatus.BAD_REQUEST, {'error': str(error)})
                return
            except Exception as error:            # the page shows one line; the traceback goes to the console
                traceback.print_exc()
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {'error': f'scoring failed: {error}'})
                return
            self._json(HTTPStatus.OK, result)

        def _body(self) -> bytes:
            if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
                return read_chunked(self.rfile)
            length = _content_length(self.headers.get('Content-Length'))
            if length > MAX_UPLOAD_BYTES:
                raise _too_large(length)
            data = self.rfile.read(length) if length else b''
            if len(data) < length:
                raise UploadError(f"the upload ended after {len(data)} of its {length} bytes")
            return data

    return Handler


class ScoringServer(ThreadingHTTPServer):
    """A thread per request, at most `max_threads` at once: the accept loop waits for a free
    thread while further connections queue in the listen backlog."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self, address, handler, max_threads: int = 32):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_threads)

    def process_request(self, request, client_address) -> None:
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def make_server(service: ScoringService, host: str = '127.0.0.1', port: int = 8000, max_threads: int = 32,
                read_timeout: float = 30.0) -> ScoringServer:
    """The server, bound (port 0: any free port, read it from server.server_port), not yet serving."""
    return ScoringServer((host, port), make_handler(service, read_timeout), max_threads)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--max-seconds', type=float, default=600.0, help='the longest upload scored (seconds)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--max-threads', type=int, default=32, help='requests served at once (default 32)')
    parser.add_argument('--read-timeout', type=float, default=30.0,
                        help='seconds an upload may stall before it is dropped (default 30)')
    parser.add_argument('--trust', action='store_true',
                        help='load a checkpoint that needs more than weights (it can run code: only a file you trust)')
    options = parser.parse_args(argv)
    try:
        if options.max_threads < 1 or not options.read_timeout > 0:
            raise ValueError(f"--max-threads {options.max_threads} and --read-timeout {options.read_timeout}: "
                             f"need at least one thread and a positive number of seconds")
        service = ScoringService(options.checkpoint, checked_device(options.device), options.max_seconds,
                                 trust=options.trust)
        server = make_server(service, options.host, options.port, options.max_threads, options.read_timeout)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"serving {options.checkpoint} at http://{options.host}:{server.server_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
