"""Export a trained detector for deployment: waveform (B, N) -> score (B,), features included
(LFCC, or the SSL front end with the bridge), any batch size and length.

    python3 -m tools.export --checkpoint C --format torchscript|onnx --out F

The waveform is mono at the checkpoint's sample rate (16 kHz by default) as float32 in
[-1, 1]; higher scores mean more bona fide, as in tools.infer. The model scores the samples
it is given: crop or window them as tools.infer does (the test crop, 4 s by default).
The metadata (`metadata.json`) holds the decision threshold (score > threshold: bona fide),
the calibration (LLR = scale * score + offset) when the checkpoint has one, the sample rate,
the test crop, the backbone and the score's name; never the configuration's secrets.

- TorchScript: `torch.jit.load(F, _extra_files={'metadata.json': ''})`; traced, then checked
  against the PyTorch model at another batch size and length.
- ONNX (opset 18; torch.export, or torch's TorchScript-based exporter for a backbone that asks for it:
  AASIST): inputs `wave` (batch, samples), output `score` (batch); the
  metadata in the model's metadata_props, key 'metadata.json'
  (`onnxruntime.InferenceSession(F).get_modelmeta().custom_metadata_map`).
C may be a release folder (tools/export_release.py). --out must not be the checkpoint itself; it
is checked, with the folder it goes in, before anything is loaded.
"""
import argparse
import io
import json
import sys
from typing import Optional

import numpy as np
import torch
from torch import nn

from inference import Detector
from models.registry import get_backbone
from utils.atomic import WriteFailed, atomic_write
from utils.checkpoint_file import CheckpointError, checkpoint_file
from utils.output_paths import OutputPathError, check_output

FORMATS = ('torchscript', 'onnx')
METADATA = 'metadata.json'
TOLERANCE = 1e-4


class WaveformScorer(nn.Module):
    """The detector's system score as a module of one tensor: wave (B, N) -> (B,)."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.detector.score(wave)


class ExportError(RuntimeError):
    """The exported model does not give the PyTorch model's scores."""


def load_scorer(checkpoint: str, trust: bool = False) -> tuple:
    """(WaveformScorer in eval mode, its metadata) of a checkpoint or release folder."""
    detector = Detector.from_pretrained(checkpoint, 'cpu', trust)
    return WaveformScorer(detector.model).eval(), detector.metadata()


def check_agreement(run_exported, scorer: WaveformScorer, example: torch.Tensor, what: str) -> float:
    """The largest difference between the exported model's scores and PyTorch's on an input of
    another batch size and length than the `example` it was exported with; ExportError past
    TOLERANCE."""
    batch, length = example.shape
    wave = 0.1 * torch.randn(batch + 1, length * 3 // 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = scorer(wave).numpy()
    difference = float(np.max(np.abs(np.asarray(run_exported(wave)) - expected)))
    if not difference <= TOLERANCE:
        raise ExportError(f"the {what} model's scores differ from PyTorch's by {difference:.3g} on a "
                          f"{tuple(wave.shape)} input (allowed {TOLERANCE:g})")
    return difference


def export_torchscript(scorer: WaveformScorer, example: torch.Tensor, info: dict, out: str) -> None:
    with torch.no_grad():
        traced = torch.jit.trace(scorer, example, check_trace=False)
    check_agreement(lambda wave: traced(wave).detach().numpy(), scorer, example, 'TorchScript')
    atomic_write(out, lambda temporary: torch.jit.save(traced, temporary,
                                                       _extra_files={METADATA: json.dumps(info)}))


def onnx_model(scorer: WaveformScorer, example: torch.Tensor, exporter: str):
    """The ONNX ModelProto of `scorer` with a dynamic batch and length, by torch.export
    ('dynamo') or the TorchScript-based exporter ('torchscript'; the backbone says which)."""
    import onnx
    if exporter == 'torchscript':
        buffer = io.BytesIO()
        with torch.no_grad():
            torch.onnx.export(scorer, (example,), buffer, input_names=['wave'], output_names=['score'],
                              dynamic_axes={'wave': {0: 'batch', 1: 'samples'}, 'score': {0: 'batch'}},
                              opset_version=18, dynamo=False)
        return onnx.load_from_string(buffer.getvalue())
    dynamic = torch.export.Dim.DYNAMIC
    return torch.onnx.export(scorer, (example,), input_names=['wave'], output_names=['score'],
                             dynamic_shapes=({0: dynamic, 1: dynamic},), dynamo=True, opset_version=18,
                             verbose=False).model_proto


def export_onnx(scorer: WaveformScorer, example: torch.Tensor, info: dict, out: str) -> None:
    import onnx
    import onnxruntime
    model = onnx_model(scorer, example, get_backbone(info['backbone']).onnx_exporter)
    onnx.helper.set_model_props(model, {METADATA: json.dumps(info)})
    serialized = model.SerializeToString()
    session = onnxruntime.InferenceSession(serialized, providers=['CPUExecutionProvider'])
    check_agreement(lambda wave: session.run(None, {'wave': wave.numpy()})[0], scorer, example, 'ONNX')

    def write(temporary: str) -> None:
        with open(temporary, 'wb') as handle:
            handle.write(serialized)
    atomic_write(out, write)


def export(checkpoint: str, form: str, out: str, length: Optional[int] = None, trust: bool = False) -> dict:
    """Export `checkpoint` as `form` to `out`; the metadata written with it."""
    check_output(out, [checkpoint_file(checkpoint)])
    scorer, info = load_scorer(checkpoint, trust)
    example = 0.1 * torch.randn(2, length or info['test_crop_samples'], generator=torch.Generator().manual_seed(0))
    (export_torchscript if form == 'torchscript' else export_onnx)(scorer, example, info, out)
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--format', choices=FORMATS, required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--trust', action='store_true',
                        help='load a checkpoint that needs more than weights (it can run code: only a file you trust)')
    options = parser.parse_args(argv)
    try:
        info = export(options.checkpoint, options.format, options.out, trust=options.trust)
    except (CheckpointError, ExportError, OutputPathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except WriteFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{options.out}: {options.format}, wave (batch, samples) at {info['sample_rate']} Hz -> score (batch,); "
          f"threshold {info['threshold']}, calibration {'yes' if info['calibration'] else 'none'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
