"""EER per attack and per condition column, as a table for the console, a TSV and the logger."""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from evaluation.metrics import compute_eer


@dataclass(frozen=True)
class BreakdownRow:
    group: str          # 'pooled', 'attack' or a condition column ('codec', 'compression', ...)
    value: str          # the attack id or condition value ('all' for pooled)
    bona: int
    spoof: int
    eer: float          # percent; nan when a class is absent


def _eer_percent(scores: np.ndarray, labels: np.ndarray) -> float:
    bona, spoof = scores[labels == 1], scores[labels == 0]
    if len(bona) == 0 or len(spoof) == 0:
        return math.nan
    return 100 * compute_eer(bona, spoof)[0]


def eer_breakdown(scores: Sequence[float], labels: Sequence[int], attacks: Sequence[str],
                  conditions: Optional[Sequence[dict]] = None) -> List[BreakdownRow]:
    """Pooled EER; EER of all bona fide vs each attack's spoofs; EER within each value of
    each condition column (both classes of the trials carrying that value). A value
    carried by spoofed trials only (an attack property such as the 2021 DF vocoder
    family) is scored against all bona fide trials, like an attack."""
    scores, labels, attacks = np.asarray(scores, float), np.asarray(labels), np.asarray(attacks)
    rows = [BreakdownRow('pooled', 'all', int(labels.sum()), int((labels == 0).sum()), _eer_percent(scores, labels))]
    bona = labels == 1
    for attack in sorted(set(attacks[labels == 0])):
        chosen = bona | (attacks == attack)
        rows.append(BreakdownRow('attack', attack, int(bona.sum()), int((attacks[chosen] == attack).sum()),
                                 _eer_percent(scores[chosen], labels[chosen])))
    if conditions:
        for column in sorted({key for row in conditions for key in row}):
            values = np.array([row.get(column, '') for row in conditions])
            for value in sorted(set(values)):
                chosen = values == value
                if not labels[chosen].any():
                    chosen = chosen | bona
                rows.append(BreakdownRow(column, value, int(labels[chosen].sum()), int((labels[chosen] == 0).sum()),
                                         _eer_percent(scores[chosen], labels[chosen])))
    return rows


def format_table(rows: List[BreakdownRow], title: str = '') -> str:
    lines = [title] if title else []
    lines.append(f"{'group':<12}{'value':<34}{'bona':>8}{'spoof':>8}{'EER %':>9}")
    for row in rows:
        eer = '-' if math.isnan(row.eer) else f"{row.eer:.3f}"
        lines.append(f"{row.group:<12}{row.value:<34}{row.bona:>8}{row.spoof:>8}{eer:>9}")
    return '\n'.join(lines)


def write_tsv(rows: List[BreakdownRow], path: str) -> None:
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('group\tvalue\tbona\tspoof\teer_percent\n')
        for row in rows:
            handle.write(f"{row.group}\t{row.value}\t{row.bona}\t{row.spoof}\t{row.eer:.6f}\n")
