"""Weights & Biases logger (wandb_project=...): the run's parameters, every metric against
its own step, and the figures. The API key is read by W&B from WANDB_API_KEY only, never
from the configuration, so it cannot reach parameters.txt, the scripts/ copy or a checkpoint.
wandb_mode='offline' writes the run under <run folder>/wandb (`wandb sync` uploads it later)."""
import sys
import threading
from typing import Dict, Optional, Sequence

from utils.run_logger import OptionalLogger
from utils.secrets import redact_text


class WandbLogger(OptionalLogger):
    label = 'wandb'

    def __init__(self, run_dir: str, project: str, entity: str, mode: str, name: str, tags: Sequence[str],
                 description: str = '', timeout_s: float = 30.0, secrets: Sequence[str] = ()):
        """Raises when the run does not start within `timeout_s` (wandb_timeout: an unreachable
        server, a bad key); the caller reports it and goes on without W&B. W&B records the
        command line with the run: it sees it with every string of `secrets` (a token given as
        an override) redacted."""
        super().__init__()
        import wandb
        self.wandb, self.run_dir, self.timeout_s = wandb, run_dir, timeout_s
        # console='off': W&B leaves stdout alone (the progress bars and the stop signals are ours)
        settings = wandb.Settings(init_timeout=timeout_s, console='off', save_code=False, silent=True)
        command_line = sys.argv
        sys.argv = [redact_text(item, list(secrets)) for item in command_line]
        try:
            self.run = wandb.init(project=project, entity=entity or None, mode=mode, dir=run_dir, name=name,
                                  tags=[str(tag) for tag in tags], notes=description or None, settings=settings,
                                  reinit='create_new')
        finally:
            sys.argv = command_line
        self.counts: Dict[str, int] = {}

    def log_parameters(self, params: dict) -> None:
        self._safely(lambda: self.run.config.update(params, allow_val_change=True))

    def log_metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        def send() -> None:
            # each metric against its own step (training steps, epochs), as in metrics/<name>.txt
            axis = f"{name}.step"
            if name not in self.counts:
                self.run.define_metric(axis, hidden=True)
                self.run.define_metric(name, step_metric=axis)
            self.counts[name] = self.counts.get(name, 0) + 1
            self.run.log({name: float(value), axis: step if step is not None else self.counts[name]})
        self._safely(send)

    def log_image(self, name: str, figure) -> None:
        self._safely(lambda: self.run.log({name: self.wandb.Image(figure)}))

    def close(self) -> None:
        """Finish the run, waiting at most wandb_timeout for the upload; what is not sent by
        then stays under <run folder>/wandb for `wandb sync`."""
        if not self.enabled:
            return
        finisher = threading.Thread(target=lambda: self._safely(self.run.finish), name='wandb-finish', daemon=True)
        finisher.start()
        finisher.join(self.timeout_s)
        if finisher.is_alive():
            print(f"[wandb] the run did not finish uploading within wandb_timeout={self.timeout_s:g} s; its files "
                  f"are under {self.run_dir}/wandb (`wandb sync` sends them)", file=sys.stderr)
