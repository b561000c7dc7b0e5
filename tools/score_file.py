"""Score a score file against an ASVspoof protocol: EER, min t-DCF and the breakdown.

    python3 -m tools.score_file --protocol P --scores S [--asv-scores A] [--json] [--tsv OUT]

The protocol may be 2019 LA (train/dev/eval), 2021 LA or 2021 DF (eval rows only);
the score file `utt_id score` lines or the 2019 CM format `utt_id attack key score`.
"""
import argparse
import json
import math
import os
import sys

from data.protocol import ProtocolError, read_protocol_file
from evaluation.breakdown import format_table, write_tsv
from evaluation.report import score_set
from evaluation.score_files import ScoreFileError, match_scores, read_scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--protocol', required=True)
    parser.add_argument('--scores', required=True)
    parser.add_argument('--asv-scores', help='official ASV score file, for the min t-DCF (2019 LA)')
    parser.add_argument('--json', action='store_true', help='print the result as JSON')
    parser.add_argument('--tsv', help='also write the breakdown to this TSV file')
    options = parser.parse_args(argv)
    try:
        trials = read_protocol_file(options.protocol)
        scores, trials = match_scores(trials, read_scores(options.scores), options.scores)
        report = score_set(os.path.basename(options.protocol), trials, scores, options.asv_scores)
    except (ScoreFileError, ProtocolError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = report.rows
    result = {'trials': len(trials), 'bona': report.bona, 'spoof': report.spoof, 'eer': report.eer,
              'threshold': report.threshold, 'min_tdcf': report.min_tdcf}
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
