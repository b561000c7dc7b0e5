"""The local web page (tools.serve) under load: simultaneous uploads, stalled clients, a long
silent file, malformed requests, and the memory of scoring a long recording.

    python3 -m benchmarks.bench_serve [--checkpoint C] [--clients 20]

Without --checkpoint, the default HM-Conformer with random weights (the service's behaviour
does not depend on the weights). The server runs in this process on a free port with its
defaults (32 threads, a listen backlog of 128, a 30 s read timeout; the stalled-client row uses
--read-timeout 2 to finish sooner). Prints the table (and writes it to docs/results/bench_serve.md).
"""
import argparse
import os
import resource
import socket
import statistics
import tempfile
import threading
import time
import tracemalloc
import urllib.error
import urllib.request

import numpy as np
import soundfile as sf
import torch

from benchmarks.published import published
from benchmarks.random_checkpoint import random_checkpoint
from evaluation.segments import score_windows
from tools import serve


def _post(url: str, data: bytes, name: str, timeout: float = 600):
    request = urllib.request.Request(f"{url}/api/score?name={name}", data=data, method='POST')
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = None              # refused at connect, reset, timed out
    return status, time.perf_counter() - started


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(('127.0.0.1', port), timeout=30) as connection:
        connection.sendall(request)
        return connection.recv(65536)


def _serve(checkpoint: str, **options):
    service = serve.ScoringService(checkpoint, torch.device('cpu'), max_seconds=600)
    server = serve.make_server(service, port=0, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def simultaneous(url: str, data: bytes, clients: int) -> str:
    results = [None] * clients

    def upload(index):
        results[index] = _post(url, data, f"{index}.flac")
    threads = [threading.Thread(target=upload, args=(index,)) for index in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    answered = sum(status == 200 for status, _ in results)
    latencies = [seconds for status, seconds in results if status == 200]
    return (f"| {clients} simultaneous uploads of a 4 s file | {answered} of {clients} answered 200 in {wall:.1f} s "
            f"(latency median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s) |")


def stalled(checkpoint: str, data: bytes, clients: int) -> str:
    server, url = _serve(checkpoint, read_timeout=2.0)
    try:
        sockets = [socket.create_connection(('127.0.0.1', server.server_port)) for _ in range(clients)]
        for connection in sockets:
            connection.sendall(b'POST /api/score HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123')
        status, seconds = _post(url, data, 'real.flac')
        started, dropped = time.perf_counter(), 0
        for connection in sockets:
            connection.settimeout(30)
            dropped += b' 408 ' in connection.recv(65536).split(b'\r\n')[0]
            connection.close()
        waited = time.perf_counter() - started
    finally:
        server.shutdown()
        server.server_close()
    return (f"| {clients} clients stall mid-upload (--read-timeout 2), one real upload | the real one: {status} in "
            f"{seconds:.1f} s; {dropped} of {clients} stalled ones answered 408 within {waited + 2:.1f} s |")


def long_silence(url: str, folder: str) -> str:
    path = os.path.join(folder, 'silence.flac')
    with sf.SoundFile(path, 'w', 16_000, 1, format='FLAC') as handle:
        for _ in range(30):
            handle.write(np.zeros(60 * 16_000, dtype=np.int16))
    with open(path, 'rb') as handle:
        data = handle.read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status, seconds = _post(url, data, 'silence.flac')
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return (f"| 30 minutes of silence as FLAC ({len(data) / 1024:.0f} KB), limit 600 s | {status} in {seconds:.2f} s, "
            f"peak resident memory grew {grown:.0f} MB |")


def malformed(port: int) -> str:
    answers = []
    for header in (b'Content-Length: abc', b'Content-Length: -1'):
        answer = _raw(port, b'POST /api/score HTTP/1.1\r\nHost: x\r\n' + header + b'\r\nConnection: close\r\n\r\n')
        answers.append(answer.split(b'\r\n')[0].decode().split(' ', 1)[1])
    return f"| Content-Length: abc / -1 | {' / '.join(answers)} |"


def long_file_memory(checkpoint: str) -> str:
    """tracemalloc's peak while score_windows scores 30 minutes (windows every second, batches of 32)."""
    service = serve.ScoringService(checkpoint, torch.device('cpu'))
    wave = np.zeros(30 * 60 * 16_000)
    calls = []

    def count(batch):
        calls.append(len(batch))
        return np.zeros(len(batch))
    tracemalloc.start()
    score_windows(count, wave, 16_000, service.detector.crop, 16_000, 0.0, batch_size=32)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole = sum(calls) * service.detector.crop * 8
    return (f"| windows of 30 minutes ({sum(calls)} windows of {service.detector.crop / 16_000:.2f} s) | peak "
            f"{peak / 2 ** 20:.0f} MB beside the {wave.nbytes / 2 ** 20:.0f} MB file (all windows at once: "
            f"{whole / 2 ** 30:.1f} GB) |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--checkpoint', help='default: the default HM-Conformer with random weights')
    parser.add_argument('--clients', type=int, default=20)
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix='bench_serve_')
    checkpoint = options.checkpoint or random_checkpoint(folder)
    clip = os.path.join(folder, 'clip.flac')
    sf.write(clip, 0.1 * np.random.default_rng(0).standard_normal(4 * 16_000), 16_000)
    with open(clip, 'rb') as handle:
        data = handle.read()
    server, url = _serve(checkpoint)
    try:
        rows = [simultaneous(url, data, options.clients), stalled(checkpoint, data, options.clients),
                long_silence(url, folder), malformed(server.server_port), long_file_memory(checkpoint)]
    finally:
        server.shutdown()
        server.server_close()
    print('\n'.join(['tools.serve under load', '', '| case | result |', '|---|---|', *rows]))


if __name__ == '__main__':
    with published('bench_serve'):
        main()
