"""A run's results card: results.json (for tools) and results.md (for people) in its
folder, with what a reviewer needs to trust and reproduce the numbers: the source
commit, the configuration and its hash, a fingerprint of every protocol, the metrics at
the epoch chosen on development data, the per-set oracle minima, the averaged model,
the decision threshold and the calibration."""
import json
import os
from typing import Dict, List, Optional

from data.protocol import rows_sha256
from evaluation.selection import development_metrics, oracle_minima, selected_record
from utils.atomic import atomic_text
from utils.provenance import config_sha256, file_sha256, git_state
from utils.secrets import redact

CARD_JSON, CARD_MARKDOWN = 'results.json', 'results.md'


class CardError(ValueError):
    """A run folder holds no (readable) results card; the message names it."""


def dataset_entries(protocols: Dict[str, str], trials: Dict[str, list]) -> Dict[str, dict]:
    """{set: {'protocol', 'sha256', 'trials', 'bona', 'spoof'}}: the SHA-256 of its protocol or
    manifest file (of its rows for a folder, whose protocol is '')."""
    return {name: {'protocol': path, 'sha256': file_sha256(path) if path else rows_sha256(trials[name]),
                   'trials': len(trials[name]), 'bona': sum(t.label == 1 for t in trials[name]),
                   'spoof': sum(t.label == 0 for t in trials[name])}
            for name, path in protocols.items() if name in trials and (not path or os.path.isfile(path))}


def build_card(args: dict, records: List[dict], averaged: Optional[dict], datasets: Dict[str, dict],
               source_root: str, checkpoint: Optional[str] = None, recipe: Optional[dict] = None) -> dict:
    """`recipe`: {key: value} of the run's recipe's settings (recipe=NAME), or None."""
    config = redact(args)
    selected = selected_record(records, args['select_on'])
    dev = development_metrics(selected, args['select_on']) if selected else None
    return {
        'git': git_state(source_root), 'config_sha256': config_sha256(config), 'config': config,
        'evaluated_checkpoint': checkpoint, 'datasets': datasets,
        'recipe': {'name': args['recipe'], 'settings': recipe} if recipe else None,
        'selection': {'select_on': args['select_on'], 'epoch': selected['epoch'] if selected else None,
                      'dev_eer': dev['eer'] if dev else None,
                      'rule': (f"lowest {args['select_on']} EER over the evaluated epochs" if dev else
                               'the last evaluation')},
        'selected': selected, 'oracle': oracle_minima(records), 'averaged': averaged, 'evaluations': records,
    }


def _value(value, digits: int) -> str:
    return '-' if value is None else f"{value:.{digits}f}"


def metrics_table(card: dict) -> str:
    """Markdown: every set at the selected epoch (and averaged), with the oracle minima."""
    lines = ['| model | set | EER % | minDCF | actDCF | Cllr | min t-DCF | oracle EER % (epoch) |',
             '|---|---|---|---|---|---|---|---|']
    rows = [(f"selected (epoch {card['selected']['epoch']})", card['selected'], card['oracle'])] \
        if card['selected'] else []
    if card.get('averaged'):
        rows.append((f"averaged (epochs {', '.join(map(str, card['averaged']['epochs']))})", card['averaged'], {}))
    for model, record, oracles in rows:
        for name, metrics in record['sets'].items():
            oracle = oracles.get(name)
            lines.append(f"| {model} | {name} | {_value(metrics['eer'], 3)} | {_value(metrics['min_dcf'], 4)} | "
                         f"{_value(metrics['act_dcf'], 4)} | {_value(metrics['cllr'], 4)} | "
                         f"{_value(metrics['min_tdcf'], 4)} | "
                         + (f"{oracle['eer']:.3f} ({oracle['epoch']}) |" if oracle else '- |'))
    return '\n'.join(lines)


def card_markdown(card: dict) -> str:
    git, selection, selected = card['git'], card['selection'], card['selected'] or {}
    dirty = {True: ' (with uncommitted changes)', False: '', None: ''}[git['dirty']]
    lines = [f"# Results: {card['config'].get('name')}", '',
             f"- source: commit {git['commit'] or 'unknown (not a git checkout)'}{dirty}",
             f"- configuration: SHA-256 {card['config_sha256'][:16]}... (in results.json, secrets redacted)"]
    if card.get('recipe'):
        lines.append(f"- recipe: {card['recipe']['name']} ("
                     + ', '.join(f"{key}={value}" for key, value in card['recipe']['settings'].items()) + ')')
    if card['evaluated_checkpoint']:
        lines.append(f"- evaluated checkpoint: {card['evaluated_checkpoint']}")
    lines += [f"- selected: epoch {selection['epoch']}, {selection['rule']}"
              + (f" ({selection['dev_eer']:.3f} %)" if selection['dev_eer'] is not None else ''),
              f"- decision threshold (development EER threshold, raw score): {_value(selected.get('threshold'), 6)}"]
    if selected.get('bayes_threshold'):
        bayes = selected['bayes_threshold']
        lines.append(f"- Bayes threshold at P(spoof) = {bayes['p_spoof']}: LLR {bayes['llr']:.4f}, "
                     f"raw score {bayes['score']:.6f}")
    if selected.get('calibration'):
        lines.append(f"- calibration: llr = {selected['calibration']['scale']:.6f} * score "
                     f"{selected['calibration']['offset']:+.6f}")
    lines += ['', '## Metrics', '', metrics_table(card), '',
              'Quote the selected row: its epoch was chosen on development data. The oracle column is '
              'each set\'s lowest EER over all evaluations of that same set (the authors\' report), a choice '
              'made on the test data.', '', '## Datasets', '', '| set | trials | bona fide | spoof | protocol SHA-256 |',
              '|---|---|---|---|---|']
    lines += [f"| {name} | {entry['trials']} | {entry['bona']} | {entry['spoof']} | {entry['sha256'][:16]}... |"
              for name, entry in card['datasets'].items()]
    return '\n'.join(lines + breakdown_tables(selected)) + '\n'


def breakdown_tables(record: dict) -> List[str]:
    """Markdown lines: each set's EER per attack and per grouping value at the selected epoch."""
    lines = []
    for name, metrics in (record.get('sets') or {}).items():
        groups = metrics.get('groups') or []     # records written before groups were kept have none
        if not groups:
            continue
        lines += ['', f"## {name}: EER by attack and grouping (selected epoch)", '',
                  '| grouping | value | bona fide | spoof | EER % |', '|---|---|---|---|---|']
        lines += [f"| {row['group']} | {row['value']} | {row['bona']} | {row['spoof']} | "
                  f"{'-' if row['eer'] != row['eer'] else format(row['eer'], '.3f')} |" for row in groups]
    return lines


def write_card(run_dir: str, card: dict) -> None:
    atomic_text(os.path.join(run_dir, CARD_JSON), json.dumps(card, indent=2, default=float) + '\n')
    atomic_text(os.path.join(run_dir, CARD_MARKDOWN), card_markdown(card))


def read_card(run_dir: str) -> dict:
    path = os.path.join(run_dir, CARD_JSON) if os.path.isdir(run_dir) else run_dir
    if not os.path.isfile(path):
        raise CardError(f"no results card at {path}: the run has not finished (a card is written at the end of "
                        f"every run and TEST run)")
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise CardError(f"cannot read the results card {path}: {error}") from None

