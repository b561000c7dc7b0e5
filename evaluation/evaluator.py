"""Everything a run does with its scores (docs/method.md sections 10-11): at each evaluation,
the development set's calibration and every set's report; the records of all evaluations; the
epoch selected on development data and the oracle minima; the averaged model's row
(average_last); what a checkpoint carries to decide with; the results card and its summary.

The scores themselves come from `score(trials, name)`, given by the trainer (it scores on every
process of a group); everything else happens on the process that writes (`is_main`).
"""
import os
from typing import Callable, Dict, List, Optional

import numpy as np

from arguments import resumable_keys
from data.protocol import Trial
from data.sets import development_name
from evaluation.calibration import fit_calibration
from evaluation.checkpoint_averaging import average_checkpoints, last_evaluated_checkpoints
from evaluation.report import ReportTo, report_set
from evaluation.results_card import build_card, dataset_entries, metrics_table, write_card
from evaluation.selection import bayes_threshold, metrics_of, oracle_minima, selected_record
from utils.secrets import redact

Scorer = Callable[[List[Trial], str], np.ndarray]


class Evaluator:
    def __init__(self, args: dict, evaluation: Dict[str, List[Trial]], calibration: Optional[List[Trial]],
                 protocols: Dict[str, str], asv_scores: Dict[str, str], score: Scorer, logger,
                 log: Callable[[str], None], run_dir: Optional[str], train: Optional[List[Trial]] = None):
        """`evaluation`: {set: trials}; `calibration`: the development set's trials (None: no
        calibration); `protocols` and `asv_scores`: their files by set name; `run_dir`: the
        run's folder on the writing process, None on the others."""
        self.args, self.evaluation, self.calibration = args, evaluation, calibration
        self.asv_scores, self.score, self.logger, self.log, self.run_dir = asv_scores, score, logger, log, run_dir
        self.development_name = development_name(args)
        named = {**({'train': train} if train is not None else {}),
                 **({self.development_name: calibration} if calibration is not None else {}), **evaluation}
        self.datasets = dataset_entries(protocols, named) if run_dir else {}
        self.records: List[dict] = []           # one per evaluation (evaluation/selection.py)
        self.averaged: Optional[dict] = None    # the record of the averaged model (average_last)

    @property
    def is_main(self) -> bool:
        return self.run_dir is not None

    @property
    def oracle(self) -> Dict[str, dict]:
        """{set: {'eer', 'epoch'}}: the lowest EER of each set over the run's evaluations."""
        return oracle_minima(self.records)

    @property
    def selected(self) -> Optional[dict]:
        return selected_record(self.records, self.args['select_on'])

    def evaluate(self, epoch: int, label: Optional[str] = None) -> Optional[dict]:
        """Score the development set (fitting the calibration on it) and every evaluation set,
        report them, and return the evaluation's record on the writing process (None on the
        others). `label` names an extra evaluation of the same epoch (files `<set>_<label>`,
        metrics `eval_<label>/...`)."""
        to = ReportTo(self.logger, os.path.join(self.run_dir, 'scores') if self.is_main else '', self.log,
                      'eval' if label is None else f'eval_{label}')
        dev, calibration = None, None
        if self.calibration is not None:
            name = self.development_name
            scores = self.score(self.calibration, name)
            if self.is_main:
                labels = np.array([t.label for t in self.calibration])
                calibration = fit_calibration(scores[labels == 1], scores[labels == 0])
                self.logger.log_metric(f'{to.metric_root}/calibration/scale', calibration.scale, epoch)
                self.logger.log_metric(f'{to.metric_root}/calibration/offset', calibration.offset, epoch)
                dev = {'name': name, **metrics_of(report_set(name, self.calibration, scores, epoch, to, None,
                                                             calibration, label))}
        sets = {}
        for name, trials in self.evaluation.items():
            scores = self.score(trials, name)
            if self.is_main:
                sets[name] = metrics_of(report_set(name, trials, scores, epoch, to, self.asv_scores.get(name),
                                                   calibration, label))
        if not self.is_main:
            return None
        threshold_source = dev or sets.get(self.args['select_on'])
        return {'epoch': epoch, 'dev': dev, 'sets': sets,
                'threshold': threshold_source['threshold'] if threshold_source else None,
                'bayes_threshold': bayes_threshold(calibration),
                'calibration': calibration.to_dict() if calibration is not None else None}

    def keep(self, record: dict) -> bool:
        """Add an evaluation's record, log the oracle minima and the selected epoch; True when it
        is the selected one so far."""
        self.records.append(record)
        for name, best in self.oracle.items():
            self.logger.log_metric(f"eval/{name}/best_eer_oracle", best['eer'], record['epoch'])
        selected = self.selected
        self.logger.log_metric('eval/selected_epoch', selected['epoch'], record['epoch'])
        return selected is record

    def model_card(self, record: Optional[dict]) -> dict:
        """What a checkpoint of the model that `record` evaluated carries besides its weights: the
        configuration, the decision threshold (the EER threshold of the development scores, never
        of an evaluation set), the Bayes threshold of the calibrated LLRs and the calibration."""
        record = record or {}
        return {'args': redact(self.args), 'threshold': record.get('threshold'),
                'bayes_threshold': record.get('bayes_threshold'), 'calibration': record.get('calibration')}

    def evaluate_averaged(self, epoch: int, models_dir: Optional[str],
                          use_weights: Callable[[Optional[dict]], None]) -> None:
        """average_last: the mean of the last `average_last` evaluated checkpoints of `models_dir`
        (read by the writing process), put into the model by `use_weights` (called on every
        process; the others get None and receive the writer's weights), evaluated as its own row
        and saved as models/averaged.pt. The trained weights stay in last.pt."""
        averaged = None
        if self.is_main:
            count = self.args['average_last']
            paths = last_evaluated_checkpoints(models_dir, [record['epoch'] for record in self.records], count)
            if len(paths) < count:
                self.log(f"average_last={count}: only {len(paths)} evaluated checkpoints, averaging those")
            # a resumed run's checkpoints may differ in what a resume may change
            averaged = average_checkpoints(paths, allow=resumable_keys() | set(self.args['resume_override']))
        use_weights(averaged['model'] if averaged else None)
        record = self.evaluate(epoch, 'averaged')
        if self.is_main:
            self.averaged = {**record, 'epochs': averaged['averaged_epochs']}
            self.logger.save_model('averaged', {**averaged, **self.model_card(record)})

    def finish(self, source_root: str, checkpoint: Optional[str] = None, recipe: Optional[dict] = None) -> dict:
        """Write the results card (results.json, results.md) and print the summary; returns the card."""
        card = build_card(self.args, self.records, self.averaged, self.datasets, source_root, checkpoint, recipe)
        write_card(self.run_dir, card)
        self.log(self.summary(card))
        return card

    def summary(self, card: dict) -> str:
        selection, run_dir = card['selection'], self.run_dir
        return '\n'.join(['', f"selected epoch {selection['epoch']}: {selection['rule']}"
                          + (f" ({selection['dev_eer']:.3f} %)" if selection['dev_eer'] is not None else '')
                          + " -> models/selected.pt", metrics_table(card),
                          "quote the selected row; the oracle column is each set's lowest EER over its own evaluations",
                          f"results card: {os.path.join(run_dir, 'results.md')} (and results.json)",
                          f"logs, checkpoints, score files and plots: {run_dir}",
                          f"  checkpoints: {os.path.join(run_dir, 'models')}",
                          f"  score files: {os.path.join(run_dir, 'scores')}",
                          f"  plots:       {os.path.join(run_dir, 'images')}"])
