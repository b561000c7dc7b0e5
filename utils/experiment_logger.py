"""One front object that fans every log call out to the configured loggers."""
import sys
from typing import List, Optional, Sequence

from utils.local_logger import LocalLogger, experiment_dir
from utils.neptune_logger import NeptuneLogger, neptune_credentials
from utils.tensorboard_logger import TensorBoardLogger
from utils.wandb_logger import WandbLogger
from utils.secrets import redact, secret_values


class ExperimentLogger:
    def __init__(self, loggers: List):
        self.loggers = loggers

    @property
    def local(self) -> Optional[LocalLogger]:
        return next((logger for logger in self.loggers if isinstance(logger, LocalLogger)), None)

    def log_parameters(self, params: dict) -> None:
        """Every logger gets the parameters with secrets (the Neptune token) redacted."""
        params = redact(params)
        for logger in self.loggers:
            logger.log_parameters(params)

    def log_metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        for logger in self.loggers:
            logger.log_metric(name, value, step)

    def truncate_metrics(self, last_step) -> None:
        """The local metric files and TensorBoard's events (Neptune and W&B series cannot be
        cut): see LocalLogger."""
        for logger in self.loggers:
            logger.truncate_metrics(last_step)

    def copy_source(self, source_root: str, secrets: Sequence[str] = ()) -> None:
        if self.local is not None:
            self.local.copy_source(source_root, secrets)

    def log_image(self, name: str, figure) -> None:
        for logger in self.loggers:
            logger.log_image(name, figure)

    def save_model(self, name: str, state_dict: dict) -> Optional[str]:
        paths = [logger.save_model(name, state_dict) for logger in self.loggers]
        return next((path for path in paths if path), None)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def build_logger(args: dict, neptune_mode: str = 'async', root: Optional[str] = None) -> ExperimentLogger:
    """The local logger (at `root`, by default the training run's folder), plus each optional
    logger that is configured and starts: Neptune (credentials), TensorBoard (tensorboard=True),
    W&B (wandb_project). One that fails to start is reported once; the run goes on without it."""
    root = root or experiment_dir(args['path_log'], args['project'], args['tags'], args['name'])
    loggers: list = [LocalLogger(root)]
    project_path, token = neptune_credentials(args['neptune_user'], args['neptune_token'], args['project'])
    starters = []
    if project_path:
        starters.append(('neptune', project_path, lambda: NeptuneLogger(
            project_path, token, args['name'], args['tags'], args['description'], mode=neptune_mode,
            timeout_s=args['neptune_timeout'])))
    if args['tensorboard']:
        starters.append(('tensorboard', root, lambda: TensorBoardLogger(root)))
    if args['wandb_project'] and args['wandb_mode'] != 'disabled':
        starters.append(('wandb', args['wandb_project'], lambda: WandbLogger(
            root, args['wandb_project'], args['wandb_entity'], args['wandb_mode'], args['name'], args['tags'],
            args['description'], timeout_s=args['wandb_timeout'], secrets=secret_values(args))))
    for label, target, start in starters:
        try:
            loggers.append(start())
        except Exception as error:  # bad token, no network, missing project or package
            print(f"[{label}] could not start a run for {target!r}: {error!r}; "
                  f"continuing with the local logger at {root}", file=sys.stderr)
    return ExperimentLogger(loggers)
