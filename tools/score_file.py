"""Score a score file against a protocol: EER, minDCF, actDCF, Cllr, min t-DCF and the
breakdown per attack and condition.

    python3 -m tools.score_file --protocol P --scores S [--asv-scores A] [--json] [--tsv OUT]
                                [--calibrate-with DEV_SCORES DEV_PROTOCOL [--llr-out OUT]]

The protocol may be 2019 LA (train/dev/eval), 2021 LA or 2021 DF (eval rows only),
ASVspoof 5 track 1 (dev/eval .tsv), an In-the-Wild meta.csv or a manifest (docs/data.md:
its grouping columns are broken down too); the score file `utt_id
score` lines or the 2019 CM format `utt_id attack key score`. minDCF, actDCF and Cllr
use the ASVspoof 5 costs (P_spoof 0.05, C_miss 1, C_fa 10) and equal its evaluation
package's values: actDCF and Cllr read the scores as log-likelihood ratios. With
--calibrate-with, a linear calibration fitted on a development score file turns the
scores into LLRs first (written to --llr-out), and actDCF and Cllr are those of the LLRs.
"""
import argparse
import json
import math
import os
import sys

from data.manifest import read_protocol_or_manifest
from data.protocol import ProtocolError
from evaluation.breakdown import format_table, write_tsv
from evaluation.calibration import LinearCalibration, fit_calibration
from evaluation.report import score_set
from evaluation.score_files import ScoreFileError, match_scores, read_scores
from utils.output_paths import OutputPathError, check_output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--protocol', required=True)
    parser.add_argument('--scores', required=True)
    parser.add_argument('--asv-scores', help='official ASV score file, for the min t-DCF (2019 LA)')
    parser.add_argument('--json', action='store_true', help='print the result as JSON')
    parser.add_argument('--tsv', help='also write the breakdown to this TSV file')
    parser.add_argument('--calibrate-with', nargs=2, metavar=('DEV_SCORES', 'DEV_PROTOCOL'),
                        help='fit a score-to-LLR calibration on this development score file and protocol')
    parser.add_argument('--llr-out', help='with --calibrate-with: write the calibrated `utt_id llr` lines here')
    options = parser.parse_args(argv)
    inputs = [path for path in [options.protocol, options.scores, options.asv_scores,
                                *(options.calibrate_with or [])] if path]
    for flag, path in (('--tsv', options.tsv), ('--llr-out', options.llr_out)):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            print(f"error: {flag} {path}: the folder {folder} does not exist", file=sys.stderr)
            return 1
        try:
            if path:
                check_output(path, inputs, flag)
        except OutputPathError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if options.tsv and options.llr_out and os.path.realpath(options.tsv) == os.path.realpath(options.llr_out):
        print(f"error: --tsv and --llr-out are the same file {options.tsv}; give two", file=sys.stderr)
        return 1
    try:
        calibration = LinearCalibration(1.0, 0.0)  # the scores are taken as LLRs, as the ASVspoof 5 package does
        if options.calibrate_with:
            dev_scores_path, dev_protocol = options.calibrate_with
            dev_trials = read_protocol_or_manifest(dev_protocol)
            dev_scores, dev_trials = match_scores(dev_trials, read_scores(dev_scores_path), dev_scores_path)
            dev_labels = [t.label == 1 for t in dev_trials]
            calibration = fit_calibration(dev_scores[dev_labels], dev_scores[[not b for b in dev_labels]])
        trials = read_protocol_or_manifest(options.protocol)
        scores, trials = match_scores(trials, read_scores(options.scores), options.scores)
        report = score_set(os.path.basename(options.protocol), trials, scores, options.asv_scores, calibration)
        if options.llr_out:
            with open(options.llr_out, 'w', encoding='utf-8') as handle:
                handle.writelines(f"{t.utt_id} {llr:.6f}\n" for t, llr in zip(trials, calibration.llr(scores)))
    except (ScoreFileError, ProtocolError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = report.rows
    result = {'trials': len(trials), 'bona': report.bona, 'spoof': report.spoof, 'eer': report.eer,
              'threshold': report.threshold, 'min_dcf': report.min_dcf, 'act_dcf': report.act_dcf,
              'cllr': report.cllr, 'min_tdcf': report.min_tdcf,
              'calibration': calibration.to_dict() if options.calibrate_with else None}
    if options.tsv:
        write_tsv(rows, options.tsv)
    if options.json:
        result['breakdown'] = [{'group': r.group, 'value': r.value, 'bona': r.bona, 'spoof': r.spoof,
                                'eer': None if math.isnan(r.eer) else r.eer} for r in rows]
        print(json.dumps(result, indent=2))
    else:
        tdcf = f", min t-DCF {result['min_tdcf']:.4f}" if result['min_tdcf'] is not None else ''
        calibrated = (f"calibrated: llr = {calibration.scale:.6f} x score + {calibration.offset:.6f}; "
                      if options.calibrate_with else 'scores read as LLRs; ')
        print(format_table(rows, f"{result['trials']} trials: EER {result['eer']:.3f} % "
                                 f"(threshold {result['threshold']:.6f}), minDCF {result['min_dcf']:.4f}{tdcf}\n"
                                 f"{calibrated}actDCF {result['act_dcf']:.4f}, Cllr {result['cllr']:.4f} bits"))
    return 0


if __name__ == '__main__':
    sys.exit(main())
