"""The training loop: epochs of two-step EBM updates, the evaluation schedule,
checkpoints and resume (docs/method.md sections 4, 10, 11). The parts it drives are built in trainer/build.py."""
import os
import random
import signal
import sys
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from data.asvspoof_sets import RunTrials, run_trials
from data.protocol import LA19_ASV_EVAL_SCORES
from data.views import crop_samples
from trainer.checkpoint import (RESUME_KEYS, load_checkpoint, load_model_state, resolve_resume,
                                restore_rng_states, rng_states, save_checkpoint)
from trainer.build import build_training_parts, detector_keys
from trainer.centroid_monitor import CentroidMonitor
from trainer.distributed import broadcast_buffers, is_distributed
from trainer.ebm_step import training_step
from evaluation.calibration import LinearCalibration, fit_calibration
from evaluation.report import SetReport, report_set
from trainer.scoring import score_trials
from utils.experiment_logger import ExperimentLogger, build_logger
from utils.run_folder import run_dir
from utils.run_lock import RunLock
from utils.secrets import redact


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
    """Trains (or, with TEST, evaluates) one run. `trials` are the ones the pre-flight
    check read; without them the trainer reads the datasets itself."""

    def __init__(self, args: dict, rank: int = 0, world_size: int = 1, device: torch.device = torch.device('cpu'),
                 trials: Optional[RunTrials] = None):
        self.args, self.rank, self.world_size, self.device = args, rank, world_size, device
        self.is_main = rank == 0
        seed_everything(args['rand_seed'], args['cudnn_deterministic'])
        self.run_dir, self.lock = None, None
        self.logger = ExperimentLogger([])
        if self.is_main:
            self.run_dir = run_dir(args)
            self.lock = RunLock(self.run_dir)
            self.lock.acquire()
            if args['TEST']:
                self.log(f"evaluation-only run: writing to {self.run_dir} (nothing is written beside the checkpoint)")
            self.logger = build_logger(args, root=self.run_dir)
        trials = trials if trials is not None else run_trials(args, self.log)
        self.eval_sets = trials.evaluation
        self.calibration_trials = trials.calibration
        self.calibration: Optional[LinearCalibration] = None
        parts = build_training_parts(args, trials.train, rank, world_size, device)
        self.detector, self.model, self.loader = parts.detector, parts.model, parts.loader
        self.optimizer, self.scheduler = parts.optimizer, parts.scheduler
        self.objective, self.batch_augment = parts.objective, parts.batch_augment
        self.centroid_monitor = CentroidMonitor(self.detector.num_heads)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best: Dict[str, dict] = {}
        self.stop_requested = False
        self.previous_handlers: dict = {}
        self.pending_data_rng = None

    # ------------------------------------------------------------------ helpers
    def log(self, text: str) -> None:
        if self.is_main:
            print(text, flush=True)

    @property
    def last_path(self) -> Optional[str]:
        return os.path.join(self.run_dir, 'models', 'last.pt') if self.run_dir else None

    def _agree(self, *flags: bool) -> List[bool]:
        """Any rank's flag counts for all ranks (keeps collectives in step)."""
        values = torch.tensor([float(f) for f in flags], device=self.device)
        if is_distributed():
            dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return [bool(v) for v in values.tolist()]

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            'model': self.detector.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(), 'epoch': self.epoch, 'step_in_epoch': self.step_in_epoch,
            'global_step': self.global_step, 'best': self.best, 'rng': rng_states(), 'args': redact(self.args),
            'threshold': self.decision_threshold(), 'calibration': self._calibration_state(),
            'data_rng': self.loader.rng_states() if self.loader is not None else None,
        }

    def decision_threshold(self) -> Optional[float]:
        """The EER threshold of 19LA eval at its best epoch (else of the first evaluated set)."""
        for name in ['19LA'] + list(self.best):
            if name in self.best:
                return self.best[name]['threshold']
        return None

    def save_last(self) -> None:
        if self.is_main:
            save_checkpoint(self.last_path, self._state())

    def resume(self, path: str) -> None:
        state = load_checkpoint(path, required=RESUME_KEYS)
        load_model_state(self.detector, state, self.args, path, detector_keys(self.args))
        self.optimizer.load_state_dict(state['optimizer'])
        self.scheduler.load_state_dict(state['scheduler'])
        self.epoch, self.step_in_epoch = state['epoch'], state.get('step_in_epoch', 0)
        self.global_step, self.best = state.get('global_step', 0), state.get('best', {})
        if state.get('calibration'):
            self.calibration = LinearCalibration.from_dict(state['calibration'])
        restore_rng_states(state['rng'])
        if self.step_in_epoch:
            self.pending_data_rng = state.get('data_rng')
        self.log(f"resumed from {path}: epoch {self.epoch} done"
                 + (f", {self.step_in_epoch} steps into epoch {self.epoch + 1}" if self.step_in_epoch else ''))

    # ------------------------------------------------------------------ evaluation
    def should_evaluate(self, epoch: int) -> bool:
        """From eval_from_epoch every eval_every epochs; when that schedule holds no epoch
        of the run, once after the last epoch (so that the run's checkpoint carries a
        decision threshold)."""
        return should_evaluate(epoch, self.args['epoch'], self.args['eval_from_epoch'], self.args['eval_every'])

    def evaluate(self, epoch: int) -> Dict[str, SetReport]:
        """Score every evaluation set, report, keep the best EERs; the random generators
        are left as they were, so that training does not depend on when it evaluates."""
        states = rng_states()
        try:
            return self._evaluate(epoch)
        finally:
            restore_rng_states(states)

    def _calibration_state(self) -> Optional[dict]:
        return self.calibration.to_dict() if self.calibration is not None else None

    def _calibrate(self, epoch: int, crop: int) -> None:
        """Score the calibration set and fit score -> LLR on it (rank 0 keeps it)."""
        name = self.args['calibration_set']
        scores = score_trials(self.model, self.calibration_trials, crop, self.args['batch_size'], self.device,
                              self.args['num_workers'], f"eval {name}", self.args['sample_rate'])
        if not self.is_main:
            return
        labels = np.array([t.label for t in self.calibration_trials])
        self.calibration = fit_calibration(scores[labels == 1], scores[labels == 0])
        self.logger.log_metric('eval/calibration/scale', self.calibration.scale, epoch)
        self.logger.log_metric('eval/calibration/offset', self.calibration.offset, epoch)
        report_set(name, self.calibration_trials, scores, epoch, self.logger, os.path.join(self.run_dir, 'scores'),
                   None, self.log, self.calibration)

    def _evaluate(self, epoch: int) -> Dict[str, SetReport]:
        broadcast_buffers(self.model)
        reports = {}
        crop = crop_samples(self.args['num_test_frames'], self.args['hop'])
        if self.calibration_trials is not None:
            self._calibrate(epoch, crop)
        for name, trials in self.eval_sets.items():
            scores = score_trials(self.model, trials, crop, self.args['batch_size'], self.device,
                                  self.args['num_workers'], f"eval {name}", self.args['sample_rate'])
            if not self.is_main:
                continue
            asv = os.path.join(self.args['path_19LA'], LA19_ASV_EVAL_SCORES) if name == '19LA' else None
            report = report_set(name, trials, scores, epoch, self.logger, os.path.join(self.run_dir, 'scores'),
                                asv, self.log, self.calibration)
            reports[name] = report
            if name not in self.best or report.eer < self.best[name]['eer']:
                self.best[name] = {'eer': report.eer, 'epoch': epoch, 'threshold': report.threshold}
            self.logger.log_metric(f"eval/{name}/best_eer", self.best[name]['eer'], epoch)
        if self.is_main and not self.args['TEST']:
            self.logger.save_model(f"epoch_{epoch}", {'model': self.detector.state_dict(), 'epoch': epoch,
                                                      'args': redact(self.args), 'threshold': self.decision_threshold(),
                                                      'calibration': self._calibration_state()})
        return reports

    # ------------------------------------------------------------------ training
    def _install_signal_handlers(self) -> None:
        def request_stop(signum, frame):
            self.stop_requested = True
            self.log(f"\nsignal {signum}: finishing the current step, then saving and exiting")
        self.previous_handlers = {number: signal.signal(number, request_stop)
                                  for number in (signal.SIGINT, signal.SIGTERM)}

    def _restore_signal_handlers(self) -> None:
        """A finished trainer leaves Ctrl-C and SIGTERM to whoever handled them before."""
        for number, handler in self.previous_handlers.items():
            signal.signal(number, handler)
        self.previous_handlers = {}

    def train_epoch(self, epoch: int) -> bool:
        """One epoch (from step_in_epoch when resuming); False when stopped early."""
        self.loader.set_epoch(epoch)
        self.detector.start_epoch(epoch)
        if self.pending_data_rng:
            # mid-epoch resume with num_workers=0: continue the augmentation draws exactly
            self.loader.restore_rng_states(self.pending_data_rng)
            self.pending_data_rng = None
        self.model.train()
        batches = self.loader.iterate(self.step_in_epoch)
        progress = tqdm(batches, total=len(self.loader), initial=self.step_in_epoch, disable=not self.is_main,
                        desc=f"epoch {epoch}/{self.args['epoch']}", dynamic_ncols=True)
        sums, steps = [0.0, 0.0], 0
        self.centroid_monitor.reset()
        for long_wave, short_wave, labels in progress:
            loss_1, loss_2, bona_embeddings = training_step(
                self.model, self.optimizer, self.objective, self.batch_augment, long_wave.to(self.device),
                short_wave.to(self.device), labels.to(self.device), self.args['centroid_update'])
            self.centroid_monitor.update(bona_embeddings)
            diverged, stop = self._agree(not np.isfinite(loss_1) or (loss_2 is not None and not np.isfinite(loss_2)),
                                         self.stop_requested)
            if diverged:
                raise TrainingDiverged(f"loss became non-finite at step {self.global_step + 1} (epoch {epoch}): "
                                       f"loss_1={loss_1}, loss_2={loss_2}; the last good checkpoint "
                                       f"{self.last_path or '(rank 0)'} is kept")
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
        progress.close()
        self.log_centroid_health(epoch)
        return True

    def log_centroid_health(self, epoch: int) -> None:
        """Log and print cos(centroid, mean bona fide embedding of the epoch) per head."""
        cosines = self.centroid_monitor.cosines(list(self.detector.centroids))
        for head, cosine in enumerate(cosines):
            self.logger.log_metric(f'train/centroid_cosine/head_{head}', cosine, epoch)
        self.log(f"epoch {epoch}: centroid-to-bona-fide cosine per head "
                 + ' '.join(f"{c:+.3f}" for c in cosines))

    def train(self) -> None:
        resume = resolve_resume(self.args['resume'], self.last_path or '')
        if self.world_size > 1:
            holder = [resume]
            dist.broadcast_object_list(holder, 0)
            resume = holder[0]
        if resume:
            self.resume(resume)
            if self.is_main:
                # a run killed after its last checkpoint logged steps that are now replayed
                self.logger.truncate_metrics(
                    lambda name: self.global_step if name in STEP_METRICS else self.epoch)
        if self.is_main:
            if self.args['eval_from_epoch'] > self.args['epoch']:
                self.log(f"warning: epoch={self.args['epoch']} ends before eval_from_epoch="
                         f"{self.args['eval_from_epoch']}, so no evaluation is scheduled; the run evaluates once "
                         f"after its last epoch to give its checkpoint a decision threshold")
            self.logger.log_parameters(self.args)
            self.logger.copy_source(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._install_signal_handlers()
        while self.epoch < self.args['epoch']:
            epoch = self.epoch + 1
            finished = self.train_epoch(epoch)
            if not finished:
                broadcast_buffers(self.model)
                self.save_last()
                self.log(f"stopped in epoch {epoch} after step {self.step_in_epoch}; resume with resume=auto")
                return
            self.scheduler.step()
            self.epoch, self.step_in_epoch = epoch, 0
            self.logger.log_metric('train/lr', self.optimizer.param_groups[0]['lr'], epoch)
            broadcast_buffers(self.model)
            self.save_last()  # before evaluating: a failed evaluation keeps the epoch just trained
            if self.should_evaluate(epoch):
                self.evaluate(epoch)
                self.save_last()  # again, with the best EERs and the decision threshold
        self.print_summary()

    def test(self) -> None:
        state = load_checkpoint(self.args['checkpoint'])
        load_model_state(self.detector, state, self.args, self.args['checkpoint'], detector_keys(self.args))
        epoch = state.get('epoch', 0)
        self.log(f"evaluating {self.args['checkpoint']} (epoch {epoch})")
        self.evaluate(epoch)
        self.print_summary()

    def print_summary(self) -> None:
        if not self.is_main:
            return
        lines = ['', f"{'set':<8}{'best EER %':>12}{'epoch':>8}"]
        for name, best in self.best.items():
            lines.append(f"{name:<8}{best['eer']:>12.3f}{best['epoch']:>8}")
        lines += [f"logs, checkpoints, score files and plots: {self.run_dir}",
                  f"  checkpoints: {os.path.join(self.run_dir, 'models')}",
                  f"  score files: {os.path.join(self.run_dir, 'scores')}",
                  f"  plots:       {os.path.join(self.run_dir, 'images')}"]
        self.log('\n'.join(lines))
        sys.stdout.flush()

    def run(self) -> None:
        try:
            self.test() if self.args['TEST'] else self.train()
        finally:
            self._restore_signal_handlers()
            self.logger.close()
            if self.lock is not None:
                self.lock.release()
