"""The training loop: epochs of two-step EBM updates, the evaluation schedule, checkpoints and
resume (docs/method.md sections 4, 10, 11). What the loop drives is built in trainer/build.py;
what a run owns besides it (folder, lock, loggers, stop signals) is trainer/run.py; what it does
with scores (calibration, reports, selection, the results card) is evaluation/evaluator.py."""
import os
import random
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from arguments import SYSTEM
from data.datasets import UnreadableData
from data.sets import RunTrials, asv_score_paths, protocol_paths, run_trials
from data.views import crop_samples
from evaluation.evaluator import Evaluator
from models.registry import detector_keys, shortest_input
from recipes.presets import recipe_values
from trainer.build import build_training_parts
from trainer.centroid_monitor import CentroidMonitor
from trainer.checkpoint import RESUME_KEYS, load_model_state, resolve_resume, restore_rng_states, rng_states
from trainer.distributed import broadcast_buffers, broadcast_state, is_distributed
from trainer.resume_check import apply_optimiser_overrides, train_fingerprint
from trainer.run import RunSession
from trainer.scoring import EvaluationStopped, score_trials
from utils.checkpoint_file import load_checkpoint, save_checkpoint
from utils.config import defaults
from utils.secrets import secret_values


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP_METRICS = ('train/loss_1', 'train/loss_2')  # logged per optimisation step; the rest per epoch


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def seed_everything(seed: int, cudnn_deterministic: bool = True) -> None:
    """Seed every generator; with `cudnn_deterministic` set cuDNN's flags as the authors'
    main.py does (deterministic kernels, no autotuning), at some cost in GPU speed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = cudnn_deterministic
    torch.backends.cudnn.benchmark = not cudnn_deterministic


def should_evaluate(epoch: int, last_epoch: int, eval_from_epoch: int, eval_every: int) -> bool:
    scheduled = epoch >= eval_from_epoch and (epoch - eval_from_epoch) % eval_every == 0
    return scheduled or (epoch == last_epoch and eval_from_epoch > last_epoch)


class Trainer:
    """Trains (or, with TEST, evaluates) one run. `trials` are the ones the pre-flight check
    read (without them the trainer reads the datasets itself); `state` the checkpoint it loaded
    to resume from, to evaluate or to start from (init_from); without it the trainer reads the file."""

    def __init__(self, args: dict, rank: int = 0, world_size: int = 1, device: torch.device = torch.device('cpu'),
                 trials: Optional[RunTrials] = None, state: Optional[dict] = None):
        self.args, self.rank, self.world_size, self.device = args, rank, world_size, device
        self.is_main = rank == 0
        seed_everything(args['rand_seed'], args['cudnn_deterministic'])
        self.session = RunSession(args, rank)
        self.run_dir, self.logger, self.log = self.session.dir, self.session.logger, self.session.log
        trials = trials if trials is not None else run_trials(args, self.log, shortest_input(args))
        self.evaluator = Evaluator(args, trials.evaluation, trials.calibration, protocol_paths(args),
                                   asv_score_paths(args), self._score, self.logger, self.log, self.run_dir,
                                   trials.train)
        train = trials.train or []                # TEST reads no training rows
        self.train_rows, self.train_fingerprint = len(train), train_fingerprint(train) if train else None
        parts = build_training_parts(args, trials.train, rank, world_size, device)
        self.detector, self.model, self.loader = parts.detector, parts.model, parts.loader
        self.optimizer, self.scheduler = parts.optimizer, parts.scheduler
        self.step = parts.step
        self.centroid_monitor = CentroidMonitor(self.detector.num_heads)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.state = state

    @property
    def last_path(self) -> Optional[str]:
        return self.session.path('models', 'last.pt')

    @property
    def stop_requested(self) -> bool:
        """Set by Ctrl-C or SIGTERM (trainer/run.py), or by a caller that wants the run to stop."""
        return self.session.stop_requested

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        self.session.stop_requested = value

    @property
    def records(self) -> List[dict]:
        return self.evaluator.records

    @property
    def oracle(self) -> Dict[str, dict]:
        return self.evaluator.oracle

    def _agree(self, *flags: bool) -> List[bool]:
        """Any rank's flag counts for all ranks (keeps collectives in step)."""
        values = torch.tensor([float(f) for f in flags], device=self.device)
        if is_distributed():
            dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return [bool(v) for v in values.tolist()]

    # ------------------------------------------------------------------ the run
    def run(self) -> None:
        try:
            self.test() if self.args['TEST'] else self.train()
        finally:
            self.session.close()

    def train(self) -> None:
        resume = resolve_resume(self.args['resume'], self.last_path or '')
        if self.world_size > 1:
            holder = [resume]
            dist.broadcast_object_list(holder, 0)
            resume = holder[0]
        pending = resume is not None and self.resume(resume)
        if resume is None and self.args['init_from']:
            self.start_from(self.args['init_from'])
        if self.is_main:
            if self.args['eval_from_epoch'] > self.args['epoch']:
                self.log(f"warning: epoch={self.args['epoch']} ends before eval_from_epoch="
                         f"{self.args['eval_from_epoch']}, so no evaluation is scheduled; the run evaluates once "
                         f"after its last epoch to give its checkpoint a decision threshold")
            self.logger.log_parameters(self.args)
            # a token typed into arguments.py is a default there, overridden or not
            self.logger.copy_source(REPO, secret_values(self.args, defaults(SYSTEM)))
        self.session.watch_stop_signals()
        if pending:
            self.log(f"the evaluation of epoch {self.epoch} did not complete: evaluating it now")
            if not self.evaluate_and_save(self.epoch):
                return
        while self.epoch < self.args['epoch']:
            epoch = self.epoch + 1
            if not self.train_epoch(epoch):
                broadcast_buffers(self.model)
                self.save_last()
                self.log(f"stopped in epoch {epoch} after step {self.step_in_epoch}; resume with resume=auto")
                return
            self.scheduler.step()
            self.epoch, self.step_in_epoch = epoch, 0
            self.logger.log_metric('train/lr', self.optimizer.param_groups[0]['lr'], epoch)
            broadcast_buffers(self.model)
            self.save_last()  # before evaluating: a failed evaluation keeps the epoch just trained
            if self.should_evaluate(epoch) and not self.evaluate_and_save(epoch):
                return
        try:
            self.finish()
        except EvaluationStopped:
            self.log("stopped during the final evaluation; resume=auto runs it again")

    def test(self) -> None:
        path = self.args['checkpoint']
        state = self.handed_or_read(path, ('model',))
        load_model_state(self.detector, state, self.args, path, detector_keys(self.args))
        epoch = state.get('epoch', 0)
        self.log(f"evaluating {path} (epoch {epoch})")
        self.session.watch_stop_signals()
        try:
            self.evaluate_epoch(epoch)
        except EvaluationStopped as stopped:
            self.log(f"stopped during the evaluation ({stopped})")
            return
        self.finish(path)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            'model': self.detector.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(), 'epoch': self.epoch, 'step_in_epoch': self.step_in_epoch,
            'global_step': self.global_step, 'records': self.records, 'rng': rng_states(),
            'train_fingerprint': self.train_fingerprint, 'train_rows': self.train_rows,
            **self.evaluator.model_card(self.records[-1] if self.records else None),
        }

    def handed_or_read(self, path: str, required) -> dict:
        """The checkpoint the pre-flight read and handed over (given up here: the weights are the
        detector's from now on), or else the file at `path`."""
        state, self.state = self.state, None
        return state if state is not None else load_checkpoint(path, required, self.args['trust_checkpoint'])

    def save_last(self) -> None:
        if self.is_main:
            save_checkpoint(self.last_path, self._state())

    def start_from(self, path: str) -> None:
        """Fine-tuning (init_from): the model weights of the checkpoint, release folder or imported
        release at `path`; the optimiser, the schedule and the epoch count start afresh."""
        state = self.handed_or_read(path, ('model',))
        load_model_state(self.detector, state, self.args, path, detector_keys(self.args))
        trained = self.args['init_train']
        self.log(f"init_from: the model starts from the weights of {path}; optimiser and schedule are fresh"
                 + ('' if trained == 'all' else f"; only its {trained.replace('_', ' ')} train (init_train)"))

    def resume(self, path: str) -> bool:
        """Continue from the checkpoint at `path` (the pre-flight's copy when it read that file);
        True when its last epoch's evaluation did not complete (redone first). A run killed after
        its last checkpoint logged steps that are now replayed, and the metrics of an evaluation
        that did not complete are logged again when it is redone: both are dropped."""
        state = self.handed_or_read(path, RESUME_KEYS)
        load_model_state(self.detector, state, self.args, path, detector_keys(self.args))
        self.optimizer.load_state_dict(state['optimizer'])
        self.scheduler.load_state_dict(state['scheduler'])
        applied = apply_optimiser_overrides(self.optimizer, self.scheduler, state.get('args') or {}, self.args)
        if applied:
            self.log(f"resume_override: {', '.join(f'{key}={self.args[key]}' for key in applied)} applied to the "
                     f"restored optimiser and schedule (learning rate now {self.optimizer.param_groups[0]['lr']:.3g})")
        self.epoch, self.step_in_epoch = state['epoch'], state.get('step_in_epoch', 0)
        self.global_step = state.get('global_step', 0)
        self.evaluator.records[:] = state.get('records', [])
        restore_rng_states(state['rng'])
        self.log(f"resumed from {path}: epoch {self.epoch} done"
                 + (f", {self.step_in_epoch} steps into epoch {self.epoch + 1}" if self.step_in_epoch else ''))
        pending = self.evaluation_pending
        if self.is_main:
            self.logger.truncate_metrics(
                lambda name: self.global_step if name in STEP_METRICS
                else self.epoch - 1 if pending and name.startswith('eval') else self.epoch)
        return pending

    # ------------------------------------------------------------------ evaluation
    def should_evaluate(self, epoch: int) -> bool:
        """From eval_from_epoch every eval_every epochs; when that schedule holds no epoch
        of the run, once after the last epoch (so that the run's checkpoint carries a
        decision threshold)."""
        return should_evaluate(epoch, self.args['epoch'], self.args['eval_from_epoch'], self.args['eval_every'])

    @property
    def evaluation_pending(self) -> bool:
        """A resumed run whose last epoch was due an evaluation that did not complete (a stop
        or a failure during it: its checkpoint was written before evaluating)."""
        return (self.step_in_epoch == 0 and self.epoch >= 1 and self.should_evaluate(self.epoch)
                and not any(record['epoch'] == self.epoch for record in self.records))

    def _score(self, trials, name: str) -> np.ndarray:
        """Every process scores its share of `trials`; the scores of all, in trial order."""
        crop = crop_samples(self.args['num_test_frames'], self.args['hop'])
        return score_trials(self.model, trials, crop, self.args['batch_size'], self.device, self.args['num_workers'],
                            f"eval {name}", self.args['sample_rate'],
                            should_stop=lambda: self._agree(self.stop_requested)[0])

    def evaluate(self, epoch: int, label: Optional[str] = None) -> Optional[dict]:
        """The evaluator's evaluation of the model as it is now (its buffers made the same on
        every process first). The random generators are left as they were, so that training
        does not depend on when it evaluates."""
        states = rng_states()
        try:
            broadcast_buffers(self.model)
            return self.evaluator.evaluate(epoch, label)
        finally:
            restore_rng_states(states)

    def evaluate_epoch(self, epoch: int) -> None:
        """Evaluate and keep the record; save the model as epoch_<N>.pt (not in TEST) and,
        when it is the selected one so far, as selected.pt."""
        record = self.evaluate(epoch)
        if not self.is_main:
            return
        is_selected = self.evaluator.keep(record)
        checkpoint = {'model': self.detector.state_dict(), 'epoch': epoch, **self.evaluator.model_card(record)}
        if not self.args['TEST']:
            self.logger.save_model(f"epoch_{epoch}", checkpoint)
        if is_selected:
            self.logger.save_model('selected', {**checkpoint, 'select_on': self.args['select_on']})

    def evaluate_and_save(self, epoch: int) -> bool:
        """Evaluate `epoch` and save last.pt with its record; False when a stop came between two
        evaluation batches (last.pt then holds the epoch without it, and resume=auto redoes it)."""
        try:
            self.evaluate_epoch(epoch)
        except EvaluationStopped as stopped:
            self.log(f"stopped during the evaluation of epoch {epoch} ({stopped}); models/last.pt holds the epoch, "
                     f"resume=auto evaluates it again and continues")
            return False
        except UnreadableData as error:
            raise UnreadableData(f"{error}. models/last.pt holds epoch {epoch}: replace the file (or set that set's "
                                 f"path to None), then resume=auto evaluates the epoch again and continues; "
                                 f"preflight_decode=True finds every such file before training") from None
        self.save_last()  # with the evaluation's record and the decision threshold
        return True

    def use_weights(self, model_state: Optional[dict]) -> None:
        """Load `model_state` (given on the writing process) and make every process's model equal it."""
        if model_state is not None:
            self.detector.load_state_dict(model_state)
        broadcast_state(self.model)

    def finish(self, checkpoint: Optional[str] = None) -> None:
        """The averaged model's row (average_last), then the results card and the summary."""
        if self.args['average_last'] and not self.args['TEST']:
            self.evaluator.evaluate_averaged(self.epoch, self.session.path('models'), self.use_weights)
        if self.is_main:
            self.evaluator.finish(REPO, checkpoint, recipe_values(self.args))

    # ------------------------------------------------------------------ training
    def train_epoch(self, epoch: int) -> bool:
        """One epoch (from step_in_epoch when resuming); False when stopped early."""
        self.loader.set_epoch(epoch)
        self.detector.start_epoch(epoch)
        self.model.train()
        batches = self.loader.iterate(self.step_in_epoch)
        progress = tqdm(batches, total=len(self.loader), initial=self.step_in_epoch, disable=not self.is_main,
                        desc=f"epoch {epoch}/{self.args['epoch']}", dynamic_ncols=True)
        sums, steps = [0.0, 0.0], 0
        self.centroid_monitor.reset()
        waited, started = 0.0, time.perf_counter()
        asked = started
        for long_wave, short_wave, labels in progress:
            waited += time.perf_counter() - asked
            loss_1, loss_2, bona_embeddings = self.step(  # the two-step EBM update (trainer/ebm_step.py)
                long_wave.to(self.device, non_blocking=True), short_wave.to(self.device, non_blocking=True),
                labels.to(self.device, non_blocking=True))
            self.centroid_monitor.update(bona_embeddings)
            diverged, stop = self._agree(not np.isfinite(loss_1) or (loss_2 is not None and not np.isfinite(loss_2)),
                                         self.stop_requested)
            if diverged:
                kept = (f"the last good checkpoint {self.last_path} is kept"
                        if self.last_path and os.path.isfile(self.last_path)
                        else "no checkpoint was written before it (rank 0 writes them)" if self.last_path is None
                        else "no checkpoint had been written yet")
                raise TrainingDiverged(f"loss became non-finite at step {self.global_step + 1} (epoch {epoch}): "
                                       f"loss_1={loss_1}, loss_2={loss_2}; {kept}")
            self.global_step += 1
            self.step_in_epoch += 1
            self.logger.log_metric('train/loss_1', loss_1, self.global_step)
            if loss_2 is not None:
                self.logger.log_metric('train/loss_2', loss_2, self.global_step)
            steps, sums = steps + 1, [sums[0] + loss_1, sums[1] + (loss_2 or 0.0)]
            progress.set_postfix(loss_1=f"{sums[0] / steps:.4f}",  # running means over the epoch
                                 loss_2='-' if loss_2 is None else f"{sums[1] / steps:.4f}")
            if stop:
                progress.close()
                return False
            asked = time.perf_counter()
        progress.close()
        self.log_throughput(epoch, steps, waited, time.perf_counter() - started)
        self.log_centroid_health(epoch)
        return True

    def log_throughput(self, epoch: int, steps: int, waited: float, elapsed: float) -> None:
        """Log and print the share of the epoch's wall time the loop waited for the loader
        (rank 0's; above 0.2 the GPU starves: more workers or a faster pipeline) and the
        items per second of all processes together (each item is a long and a short view)."""
        if elapsed <= 0:
            return
        fraction, rate = waited / elapsed, steps * self.args['batch_size'] / elapsed
        self.logger.log_metric('train/data_wait_fraction', fraction, epoch)
        self.logger.log_metric('train/items_per_s', rate, epoch)
        self.log(f"epoch {epoch}: {rate:.1f} items/s, waiting for data {fraction:.0%} of the epoch")

    def log_centroid_health(self, epoch: int) -> None:
        """Log and print cos(centroid, mean bona fide embedding of the epoch) per head."""
        cosines = self.centroid_monitor.cosines(list(self.detector.centroids))
        for head, cosine in enumerate(cosines):
            self.logger.log_metric(f'train/centroid_cosine/head_{head}', cosine, epoch)
        self.log(f"epoch {epoch}: centroid-to-bona-fide cosine per head "
                 + ' '.join(f"{c:+.3f}" for c in cosines))
