"""A local web page for a trained detector: drop (or record) a file, see the decision.

    python3 -m tools.serve --checkpoint C [--port 8000] [--host 127.0.0.1] [--max-seconds 600]

Open http://127.0.0.1:8000/ : the page shows the decision, the LLR and P(bona fide) at the
prior P(spoof) you choose (when the checkpoint holds a calibration), the share of windows
judged spoof and the timeline of `tools.infer --segments` (the file is judged by its
lowest-scoring window). Scripts get the same as JSON:

    curl --data-binary @file.flac 'http://127.0.0.1:8000/api/score?name=file.flac&p_spoof=0.05'

Any sample rate and channel count; FLAC, WAV, OGG, MP3 and what the browser records (WebM /
Ogg Opus, decoded with PyAV). A bad upload (empty, not audio, longer than --max-seconds)
gets a message, never a stack trace. Standard library only: nothing to install beyond the
repository's requirements. The server listens on localhost unless --host says otherwise.
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
from urllib.parse import parse_qs, urlparse

import numpy as np
import torch

from data.audio import AudioReadError, read_audio
from data.views import crop_samples
from evaluation.segments import file_verdict, score_windows, timeline_png, windows_as_dicts
from tools.infer import NO_THRESHOLD, batch_scorer, checked_device, load_detector, stored_calibration
from trainer.checkpoint import CheckpointError, load_checkpoint

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'web', 'index.html')
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class UploadError(ValueError):
    """An upload that cannot be scored; its message is shown on the page."""


def decode_upload(data: bytes, name: str, sample_rate: int) -> np.ndarray:
    """Mono float64 samples at `sample_rate` from an uploaded file's bytes: soundfile's formats
    as tools.infer reads them, else any container PyAV decodes (a browser's recording)."""
    if not data:
        raise UploadError('the upload is empty: choose or record a file first')
    suffix = os.path.splitext(name)[1].lower()[:8] or '.audio'
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        try:
            return read_audio(handle.name, sample_rate)
        except AudioReadError as error:
            first = str(error).replace(handle.name, name or 'the upload')
        try:
            return _decode_with_av(handle.name, sample_rate)
        except Exception:  # PyAV's errors are many; the message below says what was tried
            raise UploadError(f"{name or 'the upload'} is not audio this server can read ({first})") from None


def _decode_with_av(path: str, sample_rate: int) -> np.ndarray:
    """Any container and codec FFmpeg knows, mixed to mono and resampled by FFmpeg itself."""
    import av
    resampler = av.AudioResampler(format='dbl', layout='mono', rate=sample_rate)
    with av.open(path) as container:
        frames = [out for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    frames += resampler.resample(None)
    wave = np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames]) if frames else np.zeros(0)
    if not len(wave) or not np.isfinite(wave).all():
        raise ValueError('no finite samples')
    return wave


class ScoringService:
    """The checkpoint's detector behind a lock (one request scores at a time)."""

    def __init__(self, checkpoint: str, device: torch.device, max_seconds: float = 600.0, hop: float = 1.0):
        state = load_checkpoint(checkpoint, required=('model', 'args'))
        self.threshold = state.get('threshold')
        if self.threshold is None:
            raise CheckpointError(f"{checkpoint} {NO_THRESHOLD}")
        self.detector, self.args = load_detector(state, device)
        self.calibration = stored_calibration(state)
        self.device, self.max_seconds, self.hop = device, max_seconds, hop
        self.crop = crop_samples(self.args['num_test_frames'], self.args['hop'])
        self.checkpoint = checkpoint
        self.lock = threading.Lock()

    def score(self, data: bytes, name: str, p_spoof: float) -> dict:
        if not 0 < p_spoof < 1:
            raise UploadError(f"P(spoof) {p_spoof:g}: must lie strictly between 0 and 1")
        rate = self.args['sample_rate']
        wave = decode_upload(data, name, rate)
        seconds = len(wave) / rate
        if seconds > self.max_seconds:
            raise UploadError(f"{name or 'the upload'} lasts {seconds:.0f} s; this server scores at most "
                              f"{self.max_seconds:g} s (--max-seconds)")
        llr = self.calibration.llr if self.calibration is not None else None
        with self.lock:
            windows = score_windows(batch_scorer(self.detector, self.device), wave, rate, self.crop, max(1, int(round(self.hop * rate))),
                                    self.threshold, llr)
        verdict = file_verdict(windows)
        lowest = min(windows, key=lambda w: w.score)
        result = {'name': name, 'seconds': seconds, **verdict, 'threshold': self.threshold, 'p_spoof': p_spoof,
                  'llr': lowest.llr, 'p_bona_fide': None, 'windows': windows_as_dicts(windows)}
        if self.calibration is not None:
            result['p_bona_fide'] = float(self.calibration.probability_bona_fide(lowest.score, 1 - p_spoof))
        llr_threshold = float(self.calibration.llr(self.threshold)) if self.calibration is not None else None
        image = timeline_png(wave, rate, windows, self.threshold, llr_threshold, f"{name}: {verdict['decision']}")
        result['timeline'] = 'data:image/png;base64,' + base64.b64encode(image).decode()
        return result


def _number(query: dict, key: str, default: float) -> float:
    text = query.get(key, [str(default)])[0]
    try:
        return float(text)
    except ValueError:
        raise UploadError(f"{key} {text!r}: not a number") from None


def make_handler(service: ScoringService):
    class Handler(BaseHTTPRequestHandler):
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
                                           'backbone': service.args['backbone'], 'threshold': service.threshold,
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
            length = int(self.headers.get('Content-Length') or 0)
            if length > MAX_UPLOAD_BYTES:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           {'error': f'the upload has {length / 2 ** 20:.0f} MB; at most '
                                     f'{MAX_UPLOAD_BYTES / 2 ** 20:.0f} MB are accepted'})
                return
            data = self.rfile.read(length) if length else b''
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

    return Handler


def make_server(service: ScoringService, host: str = '127.0.0.1', port: int = 8000) -> ThreadingHTTPServer:
    """The server, bound (port 0: any free port, read it from server.server_port), not yet serving."""
    return ThreadingHTTPServer((host, port), make_handler(service))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--max-seconds', type=float, default=600.0, help='the longest upload scored (seconds)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    options = parser.parse_args(argv)
    try:
        service = ScoringService(options.checkpoint, checked_device(options.device), options.max_seconds)
        server = make_server(service, options.host, options.port)
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
