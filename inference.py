"""Score audio with a trained detector, from Python:

    from inference import Detector
    detector = Detector.from_pretrained('results/EBM/EBM/run/models/selected.pt')   # or a release folder
    detector.score('call.wav')                 # the score of the test crop (higher: more bona fide)
    detector.decide('call.wav')                # Decision(score, decision, llr, p_bona_fide, band_note)
    detector.segments('long_call.wav')         # window by window, and the file's verdict

`from_pretrained` takes a checkpoint of this project, a release folder (tools/export_release.py:
a Hugging Face model folder, config.json and model.safetensors) or an imported release
(tools/import_release.py). Loading never runs code the file may carry (utils/safe_load.py;
`trust=True` lifts that for a file you trust). Audio is a path (any sample rate and channel
count, resampled and mixed down as in evaluation) or a mono waveform at `sample_rate`. The
decision uses the threshold stored with the model (the EER threshold of its development scores;
rule 'bayes': the calibrated LLR against the Bayes threshold at `p_spoof`). tools.infer,
tools.serve and tools.export are command lines over this class.
"""
import os
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

from arguments import get_args
from data.audio import read_audio
from data.audio_band import band_difference, trained_band, wave_band
from data.views import crop_samples
from evaluation.calibration import LinearCalibration
from evaluation.segments import Window, file_verdict, score_windows, window_batches, window_starts
from evaluation.selection import bayes_threshold
from models.ebm_detector import EBMDetector
from trainer.build import build_detector_for_checkpoint
from utils.checkpoint_file import load_checkpoint

Audio = Union[str, np.ndarray]
NO_THRESHOLD = ("stores no decision threshold (saved before any evaluation, or an average of checkpoints): "
                "evaluate it with TEST=True checkpoint=...; its folder's models/selected.pt carries the development "
                "threshold")


class DecisionError(ValueError):
    """A decision that the model's stored information cannot make (no threshold, no calibration)."""


@dataclass
class Decision:
    score: float
    decision: str                       # 'bonafide' | 'spoof'
    llr: Optional[float]                # with a calibration
    p_bona_fide: Optional[float]        # at the prior 1 - p_spoof, with a calibration
    band_note: Optional[str] = None     # the recording's band differs from the training audio's


class Detector:
    def __init__(self, model: EBMDetector, args: dict, threshold: Optional[float] = None,
                 calibration: Optional[LinearCalibration] = None, source: str = '', state: Optional[dict] = None):
        self.model, self.args, self.threshold, self.calibration, self.source = model, args, threshold, calibration, source
        self.state = state or {}
        self.device = next(model.parameters()).device

    @classmethod
    def from_pretrained(cls, path: str, device: Union[str, torch.device] = 'cpu', trust: bool = False) -> 'Detector':
        """The detector of a checkpoint, a release folder or an imported release, in eval mode on
        `device`; its configuration's keys added since the file was written keep their defaults.
        Raises utils.checkpoint_file.CheckpointError naming a file that is missing, unreadable,
        incomplete or refused."""
        state = load_checkpoint(path, ('model', 'args'), trust)
        args = {**get_args()[0], **state['args']}
        model = build_detector_for_checkpoint(args)
        model.load_state_dict(state['model'])
        calibration = LinearCalibration.from_dict(state['calibration']) if state.get('calibration') else None
        return cls(model.to(device).eval(), args, state.get('threshold'), calibration, path, state)

    @property
    def sample_rate(self) -> int:
        return self.args['sample_rate']

    @property
    def crop(self) -> int:
        """The test crop in samples (4 s for HM-Conformer and AASIST)."""
        return crop_samples(self.args['num_test_frames'], self.args['hop'])

    def waveform(self, audio: Audio, whole: bool = True) -> np.ndarray:
        """Mono float64 samples at the model's rate: a path read (only the test crop unless
        `whole`), a waveform as given."""
        if isinstance(audio, str):
            return read_audio(audio, self.sample_rate, max_samples=None if whole else self.crop)
        wave = np.asarray(audio, dtype=np.float64)
        if wave.ndim != 1:
            raise ValueError(f"a waveform must be mono, one dimension; got shape {wave.shape}")
        return wave

    @torch.no_grad()
    def score_batch(self, crops: np.ndarray) -> np.ndarray:
        """(b, crop) windows -> (b,) float64 scores."""
        return self.model.score(torch.from_numpy(crops).float().to(self.device)).double().cpu().numpy()

    def score(self, audio: Audio, full: bool = False, batch_size: int = 32) -> float:
        """The score of the test crop from the start (wrap-padded when shorter), as evaluation
        scores; with `full`, the mean over half-overlapping crops of the whole recording, scored
        `batch_size` at a time."""
        wave = self.waveform(audio, whole=full)
        starts = window_starts(len(wave), self.crop, max(1, self.crop // 2)) if full else [0]
        return sum(float(self.score_batch(batch).sum())
                   for batch in window_batches(wave, self.crop, starts, batch_size)) / len(starts)

    def llr(self, score: float) -> Optional[float]:
        return float(self.calibration.llr(score)) if self.calibration is not None else None

    def p_bona_fide(self, score: float, p_spoof: float = 0.05) -> Optional[float]:
        if self.calibration is None:
            return None
        return float(self.calibration.probability_bona_fide(score, 1 - p_spoof))

    def decision_threshold(self, rule: str = 'eer', p_spoof: float = 0.05, threshold: Optional[float] = None) -> float:
        """The raw-score threshold of a decision: the score whose calibrated LLR is the Bayes
        threshold at `p_spoof` ('bayes'), else `threshold` when given, else the stored EER
        threshold. DecisionError when the model holds no such information."""
        if rule == 'bayes':
            if self.calibration is None or self.calibration.scale <= 0:
                raise DecisionError(f"{self.source} holds no usable calibration for --decision bayes")
            return bayes_threshold(self.calibration, p_spoof)['score']
        if threshold is not None:
            return threshold
        if self.threshold is None:
            raise DecisionError(f"{self.source} {NO_THRESHOLD}")
        return self.threshold

    def band_note(self, wave: np.ndarray) -> Optional[str]:
        """A sentence when the recording occupies another band than the audio a model trained with
        lfcc_band=auto was trained on (it is scored as trained either way), else None."""
        trained = trained_band(self.args)
        heard = wave_band(wave, self.sample_rate) if trained is not None else None
        return band_difference(heard, trained, self.sample_rate) if heard is not None else None

    def decide(self, audio: Audio, rule: str = 'eer', p_spoof: float = 0.05, threshold: Optional[float] = None,
               full: bool = False, batch_size: int = 32) -> Decision:
        """Score `audio` and decide: score > threshold is bona fide (see decision_threshold)."""
        limit = self.decision_threshold(rule, p_spoof, threshold)
        wave = self.waveform(audio, whole=full)
        score = self.score(wave, full, batch_size)
        return Decision(score, 'bonafide' if score > limit else 'spoof', self.llr(score),
                        self.p_bona_fide(score, p_spoof), self.band_note(wave))

    def segments(self, audio: Audio, hop: float = 1.0, threshold: Optional[float] = None, batch_size: int = 32
                 ) -> Tuple[List[Window], dict]:
        """Windows of the test crop every `hop` seconds over the whole recording (the last ending at
        its end), each with its score, LLR and decision, and the file's verdict: its lowest-scoring
        window's decision, that window, the share judged spoof and the spans judged spoof."""
        wave = self.waveform(audio)
        limit = self.decision_threshold(threshold=threshold)
        windows = score_windows(self.score_batch, wave, self.sample_rate, self.crop,
                                max(1, int(round(hop * self.sample_rate))), limit,
                                self.calibration.llr if self.calibration is not None else None, batch_size)
        return windows, file_verdict(windows)

    def metadata(self) -> dict:
        """What a deployment needs beside the graph (tools/export.py); no configuration key is
        copied, so no secret can be."""
        return {'threshold': self.threshold, 'calibration': self.state.get('calibration'),
                'sample_rate': self.sample_rate, 'test_crop_samples': self.crop, 'backbone': self.args['backbone'],
                'higher_is': 'bona fide', 'input': 'wave (batch, samples) float32', 'epoch': self.state.get('epoch'),
                'checkpoint': os.path.basename(os.path.normpath(self.source))}

