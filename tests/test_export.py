"""Export for deployment (issue 23, item 2): TorchScript and ONNX Runtime give the PyTorch
scores of the real utterances in tests/fixtures to 1e-4, from the waveform (features
included), at any batch size and length; the threshold and the calibration travel as
metadata, the configuration's secrets never."""
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from arguments import get_args
from data.views import crop_samples, make_view
from tests.helpers import SSL_ARGS
from tools import export
from trainer.build import build_detector
from utils.atomic import atomic_torch_save

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'asvspoof2019_la')
UTTERANCES = ('LA_D_1003356', 'LA_E_6163791', 'LA_T_1272637')
TOKEN = 'eyJexport-token-do-not-leak-77'
CALIBRATION = {'scale': 7.5, 'offset': -1.25}
MODELS = {   # small widths and depth: a random model exports as a trained one does, and sooner
    'hm_conformer': ['output_size=32', 'linear_units=64', 'embedding_size=16', 'num_blocks=3',
                     'downsample_layer=[0,1]'],
    'ssl_bridge': SSL_ARGS,
    # their released AASIST-L: random AASIST weights score real utterances almost alike
    'aasist': ['backbone=aasist', 'loss_weight=[1.0]', 'aasist_channels=[32,32,24,24]', 'aasist_gat_dims=[24,32]',
               'aasist_pool_ratios=[0.4,0.5,0.7]', 'aasist_score=logit',
               f"aasist_checkpoint={os.path.join(os.path.dirname(__file__), 'fixtures', 'aasist', 'AASIST-L.pth')}"],
}


def _checkpoint(tmp_path, backbone):
    args = get_args(MODELS[backbone] + [f'neptune_token={TOKEN}'])[0]
    torch.manual_seed(0)
    detector = build_detector(args)
    path = str(tmp_path / f'{backbone}.pt')
    atomic_torch_save({'model': detector.state_dict(), 'args': args, 'threshold': 0.125, 'epoch': 3,
                       'calibration': CALIBRATION}, path)
    return path, args


def _utterances(args):
    """The three real utterances as the test crops tools.infer scores: (3, crop) float32."""
    crop = crop_samples(args['num_test_frames'], args['hop'])
    waves = [sf.read(os.path.join(FIXTURES, f'{name}.flac'))[0] for name in UTTERANCES]
    return torch.from_numpy(np.stack([make_view(wave, crop, False, None) for wave in waves])).float()


@pytest.mark.parametrize('backbone', list(MODELS))
def test_torchscript_and_onnx_runtime_score_the_real_utterances_as_pytorch(backbone, tmp_path):
    import onnxruntime
    checkpoint, args = _checkpoint(tmp_path, backbone)
    scorer, _ = export.load_scorer(checkpoint)
    batch = _utterances(args)
    with torch.no_grad():
        expected = scorer(batch).numpy()
        one_long = scorer(batch[:1, :40000]).numpy()                  # another batch size and length
    assert np.ptp(expected) > 1e-3                                     # the scores tell the utterances apart

    assert export.main(['--checkpoint', checkpoint, '--format', 'torchscript', '--out', str(tmp_path / 'm.pt')]) == 0
    extra = {'metadata.json': ''}
    traced = torch.jit.load(str(tmp_path / 'm.pt'), _extra_files=extra)
    assert np.abs(traced(batch).detach().numpy() - expected).max() < 1e-4
    assert np.abs(traced(batch[:1, :40000]).detach().numpy() - one_long).max() < 1e-4
    metadata = json.loads(extra['metadata.json'])
    assert metadata['threshold'] == 0.125 and metadata['calibration'] == CALIBRATION
    assert metadata['sample_rate'] == 16000 and metadata['backbone'] == backbone

    assert export.main(['--checkpoint', checkpoint, '--format', 'onnx', '--out', str(tmp_path / 'm.onnx')]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / 'm.onnx'), providers=['CPUExecutionProvider'])
    assert np.abs(session.run(None, {'wave': batch.numpy()})[0] - expected).max() < 1e-4
    assert np.abs(session.run(None, {'wave': batch[:1, :40000].numpy()})[0] - one_long).max() < 1e-4
    assert json.loads(session.get_modelmeta().custom_metadata_map['metadata.json']) == metadata

    for path in ('m.pt', 'm.onnx'):
        assert TOKEN.encode() not in (tmp_path / path).read_bytes()


def test_a_missing_checkpoint_is_named(tmp_path, capsys):
    assert export.main(['--checkpoint', str(tmp_path / 'none.pt'), '--format', 'onnx',
                        '--out', str(tmp_path / 'm.onnx')]) == 2
    assert 'checkpoint not found' in capsys.readouterr().err and not (tmp_path / 'm.onnx').exists()


def test_aasist_exports_at_any_length(tmp_path):
    """AASIST keeps max(int(N * k), 1) nodes of a graph whose size follows the input's length: the
    exported graphs compute that count from the input, so lengths around each rounding step give
    PyTorch's scores (a trace that froze the count at the example's differed by 0.02)."""
    import onnxruntime
    args = get_args(['backbone=aasist', 'loss_weight=[1.0]', 'aasist_channels=[8,8,12,12]', 'aasist_gat_dims=[12,8]',
                     'aasist_pool_ratios=[0.4,0.5,0.7]'])[0]
    torch.manual_seed(0)
    checkpoint = str(tmp_path / 'aasist.pt')
    atomic_torch_save({'model': build_detector(args).state_dict(), 'args': args, 'threshold': 0.0}, checkpoint)
    scorer, _ = export.load_scorer(checkpoint)
    assert export.main(['--checkpoint', checkpoint, '--format', 'torchscript', '--out', str(tmp_path / 'm.pt')]) == 0
    assert export.main(['--checkpoint', checkpoint, '--format', 'onnx', '--out', str(tmp_path / 'm.onnx')]) == 0
    traced = torch.jit.load(str(tmp_path / 'm.pt'))
    session = onnxruntime.InferenceSession(str(tmp_path / 'm.onnx'), providers=['CPUExecutionProvider'])
    for length in range(16_000, 130_000, 14_321):
        wave = 0.1 * torch.randn(2, length, generator=torch.Generator().manual_seed(length))
        with torch.no_grad():
            expected = scorer(wave).numpy()
            assert np.abs(traced(wave).numpy() - expected).max() < 1e-4, length
        assert np.abs(session.run(None, {'wave': wave.numpy()})[0] - expected).max() < 1e-4, length
