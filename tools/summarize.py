"""Summarize runs that differ only in their seed: every set and metric at each run's
selected epoch (and of its averaged model, when every run has one), per seed, with the
mean, the standard deviation (sample, n - 1), the minimum and the maximum.

    python3 -m tools.summarize RUN_DIR [RUN_DIR ...] [--out PREFIX] [--allow-different KEY ...]

Reads each run's results card (results.json). Prints the table as Markdown and writes
PREFIX.md, PREFIX.csv, PREFIX.json and PREFIX.png (one panel per set: the EER of each
seed and the mean with its standard deviation); PREFIX defaults to `summary` in the
runs' common parent folder. Runs whose configurations differ in a key other than
rand_seed and name (resume is ignored too) are refused, naming the keys, unless
--allow-different names them.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys
from typing import Dict, List, Optional, Sequence

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from arguments import per_run_keys  # noqa: E402
from evaluation.plots import literal_text  # noqa: E402
from evaluation.results_card import CardError, read_card  # noqa: E402
from evaluation.selection import METRICS  # noqa: E402

class SummaryError(ValueError):
    """The runs cannot be summarized together; the message says why."""


def differing_keys(cards: Sequence[dict], allowed: Sequence[str] = ()) -> Dict[str, list]:
    """{key: [value per run]} for every configuration key (outside those naming a run, `per_run`
    in arguments.py, and `allowed`) whose value is not the same in every card."""
    keys = sorted(set().union(*(card['config'] for card in cards)) - per_run_keys() - set(allowed))
    return {key: [card['config'].get(key) for card in cards] for key in keys
            if any(card['config'].get(key) != cards[0]['config'].get(key) for card in cards)}


def statistics_of(values: Sequence[float]) -> dict:
    return {'mean': statistics.fmean(values), 'std': statistics.stdev(values) if len(values) > 1 else 0.0,
            'min': min(values), 'max': max(values)}


def summary_rows(cards: Sequence[dict]) -> List[dict]:
    """One row per model ('selected', 'averaged'), set and metric present in every card."""
    models = ['selected'] + (['averaged'] if all(card.get('averaged') for card in cards) else [])
    rows = []
    for model in models:
        sets = [name for name in cards[0][model]['sets'] if all(name in card[model]['sets'] for card in cards)]
        for name in sets:
            for metric in METRICS:
                values = [card[model]['sets'][name].get(metric) for card in cards]
                if any(value is None for value in values):
                    continue
                rows.append({'model': model, 'set': name, 'metric': metric, 'values': values,
                             'epochs': [card[model].get('epoch') for card in cards], **statistics_of(values)})
    return rows


def summarize(run_dirs: Sequence[str], allowed: Sequence[str] = ()) -> dict:
    cards = [read_card(folder) for folder in run_dirs]
    differ = differing_keys(cards, allowed)
    if differ:
        listing = '; '.join(f"{key}: {', '.join(repr(v) for v in values)}" for key, values in differ.items())
        raise SummaryError(f"the runs differ in more than the seed ({listing}); pass --allow-different "
                           f"{' '.join(differ)} to summarize them anyway")
    return {'runs': [os.path.abspath(folder) for folder in run_dirs],
            'seeds': [card['config'].get('rand_seed') for card in cards],
            'selected_epochs': [card['selection']['epoch'] for card in cards], 'rows': summary_rows(cards)}


def _number(value: float) -> str:
    return '-' if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def markdown(summary: dict) -> str:
    seeds = [f"seed {seed}" for seed in summary['seeds']]
    lines = ['| model | set | metric | ' + ' | '.join(seeds) + ' | mean | std | min | max |',
             '|' + '---|' * (len(seeds) + 7)]
    for row in summary['rows']:
        lines.append(f"| {row['model']} | {row['set']} | {row['metric']} | "
                     + ' | '.join(_number(v) for v in row['values'])
                     + f" | {_number(row['mean'])} | {_number(row['std'])} | {_number(row['min'])} | "
                       f"{_number(row['max'])} |")
    epochs = ', '.join(f"seed {s}: {e}" for s, e in zip(summary['seeds'], summary['selected_epochs']))
    return '\n'.join(lines) + f"\n\nselected epochs ({epochs}); std is the sample standard deviation (n - 1)\n"


def write_csv(summary: dict, path: str) -> None:
    seeds = [f"seed_{seed}" for seed in summary['seeds']]
    with open(path, 'w', newline='', encoding='utf-8') as handle:
        writer = csv.writer(handle)
        writer.writerow(['model', 'set', 'metric', *seeds, 'mean', 'std', 'min', 'max'])
        for row in summary['rows']:
            writer.writerow([row['model'], row['set'], row['metric'], *row['values'], row['mean'], row['std'],
                             row['min'], row['max']])


@literal_text
def plot(summary: dict, path: str) -> None:
    """One panel per set: the EER of each seed (dots) and the mean with ± one std."""
    rows = [row for row in summary['rows'] if row['metric'] == 'eer']
    sets = list(dict.fromkeys(row['set'] for row in rows))
    figure, axes = plt.subplots(1, max(len(sets), 1), figsize=(3 * max(len(sets), 1), 3.2), squeeze=False)
    for axis, name in zip(axes[0], sets):
        for position, row in enumerate(r for r in rows if r['set'] == name):
            axis.scatter([position] * len(row['values']), row['values'], color='tab:blue', alpha=0.7, zorder=2)
            axis.errorbar(position + 0.15, row['mean'], yerr=row['std'], fmt='o', color='black', capsize=4, zorder=3)
            axis.set_xticks(list(range(position + 1)))
        axis.set_xticklabels([r['model'] for r in rows if r['set'] == name])
        axis.set_title(name)
        axis.set_ylabel('EER %')
        axis.grid(alpha=0.3)
    figure.suptitle(f"{len(summary['seeds'])} seeds: each seed (blue), mean ± std (black)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_summary(summary: dict, prefix: str) -> Dict[str, str]:
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    paths = {kind: f"{prefix}.{kind}" for kind in ('md', 'csv', 'json', 'png')}
    with open(paths['md'], 'w', encoding='utf-8') as handle:
        handle.write(markdown(summary))
    write_csv(summary, paths['csv'])
    with open(paths['json'], 'w', encoding='utf-8') as handle:
        json.dump(summary, handle, indent=2)
    plot(summary, paths['png'])
    return paths


def summarize_and_write(run_dirs: Sequence[str], prefix: Optional[str] = None, allowed: Sequence[str] = ()) -> int:
    """Summarize, write PREFIX.{md,csv,json,png} (default: <common parent>/summary) and print
    the table; 2 with the reason printed when the runs cannot be summarized."""
    try:
        summary = summarize(run_dirs, allowed)
    except (CardError, SummaryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    prefix = prefix or os.path.join(os.path.commonpath([os.path.abspath(r) for r in run_dirs]), 'summary')
    paths = write_summary(summary, prefix)
    print(markdown(summary))
    print('written: ' + ', '.join(paths.values()))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', help='run folders (each with results.json)')
    parser.add_argument('--out', help='prefix of the written files (default: <common parent>/summary)')
    parser.add_argument('--allow-different', nargs='*', default=[], metavar='KEY')
    options = parser.parse_args(argv)
    return summarize_and_write(options.runs, options.out, options.allow_different)


if __name__ == '__main__':
    sys.exit(main())
