"""Score a score file against an ASVspoof protocol: EER, min t-DCF and the breakdown.

    python3 tools/score_file.py --protocol P --scores S [--asv-scores A] [--json] [--tsv OUT]

The protocol may be 2019 LA (train/dev/eval), 2021 LA or 2021 DF (eval rows only);
the score file `utt_id score` lines or the 2019 CM format `utt_id attack key score`.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data.protocol import ProtocolError, read_protocol_file  # noqa: E402
from utils.breakdown import eer_breakdown, format_table, write_tsv  # noqa: E402
from utils.metrics import check_asv_covers, compute_eer, min_tdcf, read_asv_scores  # noqa: E402
from utils.score_files import ScoreFileError, match_scores, read_scores  # noqa: E402


def evaluate(protocol: str, score_path: str, asv_path: str = None) -> dict:
    trials = read_protocol_file(protocol)
    scores, trials = match_scores(trials, read_scores(score_path), score_path)
    labels = [t.label for t in trials]
    bona = scores[[label == 1 for label in labels]]
    spoof = scores[[label == 0 for label in labels]]
    eer, threshold = compute_eer(bona, spoof)
    result = {'trials': len(trials), 'bona': len(bona), 'spoof': len(spoof), 'eer': 100 * eer,
              'threshold': threshold, 'min_tdcf': None}
    if asv_path:
        asv = read_asv_scores(asv_path)
        check_asv_covers(asv, [t.attack for t in trials], asv_path)
        result['min_tdcf'] = min_tdcf(bona, spoof, asv)
    result['rows'] = eer_breakdown(scores, labels, [t.attack for t in trials], [t.conditions for t in trials])
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--protocol', required=True)
    parser.add_argument('--scores', required=True)
    parser.add_argument('--asv-scores', help='official ASV score file, for the min t-DCF (2019 LA)')
    parser.add_argument('--json', action='store_true', help='print the result as JSON')
    parser.add_argument('--tsv', help='also write the breakdown to this TSV file')
    options = parser.parse_args(argv)
    try:
        result = evaluate(options.protocol, options.scores, options.asv_scores)
    except (ScoreFileError, ProtocolError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = result.pop('rows')
    if options.tsv:
        write_tsv(rows, options.tsv)
    if options.json:
        result['breakdown'] = [{'group': r.group, 'value': r.value, 'bona': r.bona, 'spoof': r.spoof,
                                'eer': None if math.isnan(r.eer) else r.eer} for r in rows]
        print(json.dumps(result, indent=2))
    else:
        tdcf = f", min t-DCF {result['min_tdcf']:.4f}" if result['min_tdcf'] is not None else ''
        print(format_table(rows, f"{result['trials']} trials: EER {result['eer']:.3f} % "
                                 f"(threshold {result['threshold']:.6f}){tdcf}"))
    return 0


if __name__ == '__main__':
    sys.exit(main())
