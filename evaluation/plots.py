"""Figures people would rather look at than read: score histograms and DET curves."""
import functools
from typing import Callable, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from evaluation.metrics import compute_eer, det_curve  # noqa: E402


def literal_text(make_figure: Callable) -> Callable:
    """A figure function whose titles, labels and legends carry names from the data (files,
    attacks, sets): they are drawn as typed, never parsed as TeX ('price_$5_to_$10.flac')."""
    @functools.wraps(make_figure)
    def with_literal_text(*args, **kwargs):
        with matplotlib.rc_context({'text.parse_math': False}):
            return make_figure(*args, **kwargs)
    return with_literal_text


def _histogram_panels(scores: np.ndarray, panels, title: str):
    """A grid of up to four columns, one panel per (panel title, [(rows, label, colour), ...]):
    each entry's score histogram as a filled outline (one polygon per histogram, not a patch per
    bar, draws several times faster), on bins shared by all panels."""
    columns = min(4, max(1, len(panels)))
    rows = int(np.ceil(len(panels) / columns)) or 1
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    bins = np.linspace(scores.min(), scores.max() + 1e-9, 40)
    for axis, (panel_title, entries) in zip(axes.flat, panels):
        for chosen, label, colour in entries:
            axis.hist(scores[chosen], bins, alpha=0.6, density=True, label=label, color=colour, histtype='stepfilled')
        axis.set_title(panel_title, fontsize=9)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis('off')
    figure.suptitle(title)
    figure.tight_layout()
    return figure


@literal_text
def score_histograms(scores: Sequence[float], labels: Sequence[int], attacks: Sequence[str], title: str):
    """One panel per attack: the bona fide score histogram against that attack's."""
    scores, labels, attacks = np.asarray(scores, float), np.asarray(labels), np.asarray(attacks)
    panels = [(name, [(labels == 1, 'bona fide', 'tab:green'), (attacks == name, name, 'tab:red')])
              for name in sorted(set(attacks[labels == 0]))]
    return _histogram_panels(scores, panels, title)


@literal_text
def group_histograms(scores: Sequence[float], labels: Sequence[int], values: Sequence[str], column: str, title: str,
                     most: int = 16):
    """One panel per value of a grouping column (speaker, language, ...; the `most` most frequent):
    its bona fide scores against its spoofed ones (against all bona fide when it has none)."""
    scores, labels, values = np.asarray(scores, float), np.asarray(labels), np.asarray(values)
    names, counts = np.unique(values, return_counts=True)
    panels = []
    for name in [str(name) for name in names[np.argsort(-counts, kind='stable')][:most]]:
        chosen = values == name
        bona = chosen & (labels == 1) if (chosen & (labels == 1)).any() else labels == 1
        entries = [(rows, label, colour) for rows, label, colour in
                   ((bona, 'bona fide', 'tab:green'), (chosen & (labels == 0), 'spoof', 'tab:red')) if rows.any()]
        panels.append((f"{column}: {name or '(empty)'}", entries))
    return _histogram_panels(scores, panels, title)


@literal_text
def det_plot(scores: Sequence[float], labels: Sequence[int], title: str):
    """DET curve on normal-deviate axes with the EER point marked."""
    scores, labels = np.asarray(scores, float), np.asarray(labels)
    frr, far, _ = det_curve(scores[labels == 1], scores[labels == 0])
    eer, _ = compute_eer(scores[labels == 1], scores[labels == 0])
    clip = 1e-4
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot(norm.ppf(np.clip(far, clip, 1 - clip)), norm.ppf(np.clip(frr, clip, 1 - clip)), color='tab:blue')
    point = norm.ppf(np.clip(eer, clip, 1 - clip))
    axis.plot([point], [point], 'o', color='tab:red', label=f"EER {100 * eer:.2f} %")
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95])
    axis.set_xticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    axis.set_yticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    axis.set_xlabel('false acceptance rate (%)')
    axis.set_ylabel('false rejection rate (%)')
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure
