"""The local web page (issue 23, item 4): its JSON endpoint gives tools.infer --segments'
decision for a demo-corpus file, bad uploads get a message and never a stack trace, and in a
real headless Chromium (Debian's, which .ci/run installs) an uploaded file shows that decision."""
import contextlib
import importlib.util
import io
import json
import os
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import soundfile as sf
import torch

from tools import infer, serve

CHROMIUM, CHROMEDRIVER = shutil.which('chromium'), shutil.which('chromedriver')
SELENIUM = importlib.util.find_spec('selenium') is not None


@pytest.fixture(scope='module')
def page(tiny_run):
    """(base url, checkpoint) of a server on a free port, the tiny run's calibrated checkpoint."""
    checkpoint = os.path.join(tiny_run, 'models', 'last.pt')
    service = serve.ScoringService(checkpoint, torch.device('cpu'), max_seconds=30)
    server = serve.make_server(service, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_port}', checkpoint
    server.shutdown()
    server.server_close()


def _post(url, data, **query):
    request = urllib.request.Request(f"{url}/api/score?{urllib.parse.urlencode(query)}", data=data, method='POST')
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _infer_segments(checkpoint, path, tmp_path):
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert infer.main(['--checkpoint', checkpoint, path, '--segments', '--json',
                           '--timeline', str(tmp_path / 'timelines')]) == 0
    return json.loads(output.getvalue())['results'][0]


def _demo_file(demo_corpus):
    folder = os.path.join(demo_corpus['path_19LA'], 'LA', 'ASVspoof2019_LA_eval', 'flac')
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def test_the_json_endpoint_gives_the_decision_of_infer_segments(page, demo_corpus, tmp_path):
    url, checkpoint = page
    path = _demo_file(demo_corpus)
    with open(path, 'rb') as handle:
        status, result = _post(url, handle.read(), name=os.path.basename(path), p_spoof=0.2)
    expected = _infer_segments(checkpoint, path, tmp_path)
    assert status == 200
    assert result['decision'] == expected['decision'] and result['min_score'] == pytest.approx(expected['min_score'])
    assert [w['score'] for w in result['windows']] == pytest.approx([w['score'] for w in expected['windows']])
    lowest = min(expected['windows'], key=lambda w: w['score'])
    assert result['llr'] == pytest.approx(lowest['llr'])
    # P(bona fide) at the prior: the LLR plus the prior log odds, through the logistic
    assert result['p_bona_fide'] == pytest.approx(1 / (1 + np.exp(-(lowest['llr'] + np.log(0.8 / 0.2)))), rel=1e-6)
    assert result['timeline'].startswith('data:image/png;base64,')


def test_bad_uploads_get_a_message_and_no_stack_trace(page, tmp_path):
    url, _ = page
    long_file = tmp_path / 'long.wav'
    sf.write(str(long_file), np.zeros(16000 * 31), 16000)
    cases = [(b'', {}, 'the upload is empty'),
             (b'this is not audio' * 100, {'name': 'notes.flac'}, 'notes.flac is not audio this server can read'),
             (long_file.read_bytes(), {'name': 'long.wav'}, 'long.wav lasts 31 s; this server scores at most 30 s'),
             (b'x', {'p_spoof': '2'}, 'P(spoof) 2: must lie strictly between 0 and 1'),
             (b'x', {'p_spoof': 'half'}, "p_spoof 'half': not a number")]
    for data, query, message in cases:
        status, result = _post(url, data, **query)
        assert status == 400 and message in result['error'], (query, result)
        assert 'Traceback' not in result['error']


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER and SELENIUM), reason="needs Debian's chromium and "
                    "chromium-driver and requirements-web.txt (.ci/run installs them)")
def test_a_file_uploaded_in_a_real_browser_shows_the_decision_of_infer(page, demo_corpus, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    url, checkpoint = page
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 f'--user-data-dir={tmp_path / "profile"}', '--window-size=1100,1000'):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get(url + '/')
        WebDriverWait(driver, 30).until(lambda d: 'threshold' in d.find_element(By.ID, 'model').text)
        path = _demo_file(demo_corpus)
        driver.find_element(By.ID, 'file').send_keys(path)
        driver.find_element(By.ID, 'submit').click()
        shown = WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.ID, 'decision').get_attribute('data-decision'))
        assert shown == _infer_segments(checkpoint, path, tmp_path)['decision']
        assert driver.execute_script("return document.getElementById('timeline').naturalWidth") > 300
        assert driver.find_element(By.ID, 'llr').text not in ('', 'n/a')
        driver.save_screenshot(str(tmp_path / 'page.png'))
        assert (tmp_path / 'page.png').stat().st_size > 10000

        not_audio = tmp_path / 'notes.wav'
        not_audio.write_text('hello')
        driver.find_element(By.ID, 'file').send_keys(str(not_audio))
        driver.find_element(By.ID, 'submit').click()
        error = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, 'error').text)
        assert 'notes.wav is not audio this server can read' in error and 'Traceback' not in error
    finally:
        driver.quit()


def _raw_request(url, head: bytes, body: bytes = b'', timeout=30) -> bytes:
    """Send `head` + `body` on a plain socket and return the whole answer."""
    import socket
    host, port = url.split('//')[1].split(':')
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(head + body)
        answer = b''
        while True:
            part = connection.recv(65536)
            if not part:
                return answer
            answer += part


def test_malformed_lengths_and_chunked_uploads_are_answered(page, demo_corpus):
    url, _ = page
    for length in ('abc', '-1'):
        answer = _raw_request(url, f'POST /api/score?name=x.flac HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n'
                                   f'Connection: close\r\n\r\n'.encode())
        assert answer.startswith(b'HTTP/1.0 400') and f"Content-Length '{length}'".encode() in answer, answer[:300]
    path = _demo_file(demo_corpus)
    with open(path, 'rb') as handle:
        data = handle.read()
    status, plain = _post(url, data, name='a.flac')
    chunks = b''.join(b'%x\r\n' % len(data[i:i + 1000]) + data[i:i + 1000] + b'\r\n'
                      for i in range(0, len(data), 1000)) + b'0\r\n\r\n'
    answer = _raw_request(url, b'POST /api/score?name=a.flac HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
                               b'Connection: close\r\n\r\n', chunks)
    result = json.loads(answer.split(b'\r\n\r\n', 1)[1])
    assert status == 200 and result['min_score'] == plain['min_score'] and result['windows'] == plain['windows']


def test_a_stalled_upload_is_dropped_and_others_are_served_meanwhile(tiny_run, demo_corpus):
    import socket
    checkpoint = os.path.join(tiny_run, 'models', 'last.pt')
    service = serve.ScoringService(checkpoint, torch.device('cpu'), max_seconds=30)
    server = serve.make_server(service, port=0, max_threads=4, read_timeout=1.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f'http://127.0.0.1:{server.server_port}'
    try:
        stalled = [socket.create_connection(('127.0.0.1', server.server_port)) for _ in range(3)]
        for connection in stalled:     # promises 1,000 bytes, sends 10, then nothing
            connection.sendall(b'POST /api/score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789')
        with open(_demo_file(demo_corpus), 'rb') as handle:
            status, _ = _post(url, handle.read(), name='a.flac')
        assert status == 200
        for connection in stalled:
            connection.settimeout(10)
            answer = b''
            while chunk := connection.recv(65536):   # the head and the body may come in two pieces
                answer += chunk
            assert b'408' in answer.split(b'\r\n')[0] and b'stalled for 1 s' in answer
            connection.close()
    finally:
        server.shutdown()
        server.server_close()


def test_twenty_simultaneous_uploads_are_all_answered(page, demo_corpus):
    url, _ = page
    with open(_demo_file(demo_corpus), 'rb') as handle:
        data = handle.read()
    answers = [None] * 20

    def upload(index):
        answers[index] = _post(url, data, name=f'{index}.flac')
    threads = [threading.Thread(target=upload, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [status for status, _ in answers] == [200] * 20
    assert len({result['min_score'] for _, result in answers}) == 1


def test_a_long_silent_file_is_refused_from_its_header_before_decoding(page, tmp_path):
    """30 minutes of silence compress to a small FLAC; decoding it whole would take 230 MB of
    float64 before the length check (it took 2.5 GB before): the header says 1,800 s first."""
    import time
    import tracemalloc
    url, _ = page
    path = tmp_path / 'silence.flac'
    with sf.SoundFile(str(path), 'w', 16_000, 1, format='FLAC') as handle:
        for _ in range(30):
            handle.write(np.zeros(60 * 16_000, dtype=np.int16))
    assert path.stat().st_size < 2 * 2 ** 20
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(serve.UploadError, match='lasts 1800 s; this server scores at most 30 s'):
        serve.decode_upload(path.read_bytes(), 'silence.flac', 16_000, max_seconds=30)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2 ** 20 and time.perf_counter() - started < 5
    status, result = _post(url, path.read_bytes(), name='silence.flac')
    assert status == 400 and 'lasts 1800 s' in result['error']


def test_a_file_name_with_dollars_is_scored_and_shown_as_it_is(page, demo_corpus):
    url, _ = page
    with open(_demo_file(demo_corpus), 'rb') as handle:
        status, result = _post(url, handle.read(), name='price_$5_to_$10.flac')
    assert status == 200 and result['name'] == 'price_$5_to_$10.flac'
