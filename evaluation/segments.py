"""Long recordings scored window by window: where in a file the detector hears spoofed
speech (`tools.infer --segments`), with a timeline figure.

Windows have the test crop's length and start every `hop` samples; the last one ends at the
file's end, so every sample is scored. A file shorter than the crop is one window, wrap-padded
as in evaluation. The file is judged spoof when its lowest-scoring window is: one synthetic
sentence in a long bona fide call is enough.
"""
import io
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data.views import make_view  # noqa: E402
from evaluation.plots import literal_text  # noqa: E402
from utils.atomic import atomic_write  # noqa: E402


@dataclass
class Window:
    start: float                   # seconds
    end: float
    score: float
    llr: Optional[float]           # None without a calibration
    decision: str                  # 'bonafide' | 'spoof'


def window_starts(length: int, crop: int, hop: int) -> List[int]:
    """Start samples of the windows over `length` samples (one window when length <= crop)."""
    if length <= crop:
        return [0]
    starts = list(range(0, length - crop + 1, hop))
    if starts[-1] != length - crop:
        starts.append(length - crop)
    return starts


def window_crops(wave: np.ndarray, crop: int, starts: Sequence[int]) -> np.ndarray:
    """(n, crop) windows of `wave` at `starts`; a wave shorter than the crop is wrap-padded."""
    if len(wave) <= crop:
        return make_view(wave, crop, False, None)[None]
    return np.stack([wave[start:start + crop] for start in starts])


def window_batches(wave: np.ndarray, crop: int, starts: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """window_crops, `batch_size` windows at a time: a long file's windows never exist all at
    once (30 minutes in 4 s windows every second would be 0.9 GB)."""
    for first in range(0, len(starts), batch_size):
        yield window_crops(wave, crop, starts[first:first + batch_size])


def score_windows(score_batch: Callable[[np.ndarray], np.ndarray], wave: np.ndarray, sample_rate: int, crop: int,
                  hop: int, threshold: float, llr: Optional[Callable[[float], float]] = None,
                  batch_size: int = 32) -> List[Window]:
    """One Window per window of `wave`; `score_batch` maps (b, crop) float32 windows to (b,)
    scores, fed `batch_size` windows at a time; score > threshold is bona fide."""
    starts = window_starts(len(wave), crop, hop)
    scores = np.concatenate([np.asarray(score_batch(batch), dtype=np.float64)
                             for batch in window_batches(wave, crop, starts, batch_size)])
    return [Window(start / sample_rate, min(start + crop, len(wave)) / sample_rate, float(score),
                   float(llr(score)) if llr is not None else None, 'bonafide' if score > threshold else 'spoof')
            for start, score in zip(starts, scores)]


def spoof_spans(windows: Sequence[Window]) -> List[Tuple[float, float]]:
    """The stretches of the file judged spoof, as (start, end) seconds. Each window speaks for
    the stretch around its centre, up to halfway to its neighbours' centres (the first from the
    file's start, the last to its end): the union of whole windows would overrun a spoofed
    part by up to a window's length on each side."""
    ordered = sorted(windows, key=lambda w: w.start)
    centres = [(w.start + w.end) / 2 for w in ordered]
    bounds = [0.0] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [max(w.end for w in ordered)]
    spans: List[List[float]] = []
    for window, start, end in zip(ordered, bounds, bounds[1:]):
        if window.decision != 'spoof':
            continue
        if spans and start <= spans[-1][1]:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def file_verdict(windows: Sequence[Window]) -> dict:
    """The file-level decision (its lowest-scoring window's), that window, and the share of
    windows judged spoof."""
    lowest = min(windows, key=lambda w: w.score)
    return {'decision': lowest.decision, 'min_score': lowest.score, 'min_window': [lowest.start, lowest.end],
            'spoof_share': sum(w.decision == 'spoof' for w in windows) / len(windows),
            'spoof_spans': [list(span) for span in spoof_spans(windows)]}


def windows_as_dicts(windows: Sequence[Window]) -> List[dict]:
    return [asdict(window) for window in windows]


@literal_text
def timeline_figure(wave: np.ndarray, sample_rate: int, windows: Sequence[Window], threshold: float,
                    llr_threshold: Optional[float], title: str):
    """Waveform above, each window's LLR (its score without a calibration) below at the window's
    centre, the decision threshold dashed, the spans judged spoof (spoof_spans) shaded."""
    calibrated = llr_threshold is not None
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True,
                                         gridspec_kw={'height_ratios': [1, 1.3]})
    time = np.arange(len(wave)) / sample_rate
    step = max(1, len(wave) // 20000)           # enough points for the envelope, few enough to draw fast
    top.plot(time[::step], wave[::step], color='0.35', linewidth=0.5)
    top.set_ylabel('waveform')
    values = [w.llr if calibrated else w.score for w in windows]
    centres = [(w.start + w.end) / 2 for w in windows]
    bottom.plot(centres, values, 'o-', color='tab:blue', markersize=3, linewidth=1)
    bottom.axhline(llr_threshold if calibrated else threshold, color='tab:red', linestyle='--',
                   label='threshold')
    bottom.set_ylabel('LLR' if calibrated else 'score')
    bottom.set_xlabel('time (s)')
    for start, end in spoof_spans(windows):
        for axis in (top, bottom):
            axis.axvspan(start, end, color='tab:red', alpha=0.15, linewidth=0)
    bottom.legend(loc='lower right', fontsize=8)
    top.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure


def timeline_png(wave: np.ndarray, sample_rate: int, windows: Sequence[Window], threshold: float,
                 llr_threshold: Optional[float], title: str) -> bytes:
    """timeline_figure as PNG bytes."""
    figure = timeline_figure(wave, sample_rate, windows, threshold, llr_threshold, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def save_timeline(path: str, *timeline) -> None:
    """timeline_png(*timeline), written to `path`."""
    image = timeline_png(*timeline)

    def write(temporary: str) -> None:
        with open(temporary, 'wb') as handle:
            handle.write(image)
    atomic_write(path, write)
