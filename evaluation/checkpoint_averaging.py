"""Averaging checkpoints: the parameters and buffers (BatchNorm running statistics,
the EBM centroids) of several checkpoints of one model, tensor by tensor."""
import os
from typing import Dict, Iterable, List, Mapping, Sequence

import torch

from arguments import per_run_keys
from utils.checkpoint_file import CheckpointError, load_checkpoint


def average_state_dicts(states: Sequence[Mapping[str, torch.Tensor]], names: Sequence[str] = ()) -> Dict[str, torch.Tensor]:
    """The mean of each tensor over `states` (summed in float64, returned in its own
    dtype). Integer tensors (BatchNorm's num_batches_tracked) get the floor of their mean.
    The states must hold the same keys and shapes; `names` name them in the error."""
    if not states:
        raise ValueError("nothing to average: no state dicts given")
    names = list(names) or [f"state {index}" for index in range(len(states))]
    first = states[0]
    for name, state in zip(names[1:], states[1:]):
        if set(state) != set(first):
            differ = sorted(set(state) ^ set(first))
            raise CheckpointError(f"{name} and {names[0]} hold different tensors: {', '.join(differ[:5])}")
        for key, tensor in state.items():
            if tensor.shape != first[key].shape:
                raise CheckpointError(f"{key} is {tuple(tensor.shape)} in {name} but {tuple(first[key].shape)} "
                                      f"in {names[0]}")
    averaged = {}
    for key, tensor in first.items():
        total = sum(state[key].to(torch.float64) for state in states)
        if tensor.is_floating_point():
            averaged[key] = (total / len(states)).to(tensor.dtype)
        else:
            averaged[key] = torch.floor(total / len(states)).to(tensor.dtype)
    return averaged


def configuration_differences(states: Sequence[dict]) -> Dict[str, list]:
    """{key: the value in each state} for every configuration key whose value is not the same in
    all states, outside the keys that name a run (`per_run`: its seed and name; models of several
    seeds average well) and those a checkpoint does not know."""
    configs = [state.get('args') or {} for state in states]
    shared = set.intersection(*(set(config) for config in configs)) - per_run_keys()
    return {key: [config[key] for config in configs] for key in sorted(shared)
            if any(config[key] != configs[0][key] for config in configs)}


def average_checkpoints(paths: Sequence[str], allow: Iterable[str] = (), trust: bool = False) -> dict:
    """A model-only checkpoint whose model is the mean of the checkpoints at `paths`;
    it keeps the configuration and epoch of the last one and names what it averaged.
    Checkpoints whose configurations differ in more than the seed and the run's name (another
    LFCC band, another width) are refused, naming each such key with its values, unless
    `allow` names it. It has no decision threshold or calibration: those belong to a model's own
    development scores (evaluate it with TEST=True to get them)."""
    states = [load_checkpoint(path, trust=trust) for path in paths]
    differ = {key: values for key, values in configuration_differences(states).items() if key not in set(allow)}
    if differ:
        listed = '; '.join(f"{key}: " + ', '.join(f"{value!r} ({os.path.basename(path)})"
                                                  for value, path in zip(values, paths))
                           for key, values in differ.items())
        raise CheckpointError(f"the checkpoints were trained with different settings ({listed}): their mean is a "
                              f"model that no one configuration describes. To average them anyway, keeping the "
                              f"last one's configuration: --allow-different {','.join(differ)}")
    checkpoint: dict = {'model': average_state_dicts([s['model'] for s in states], paths),
                        'averaged_from': [os.path.abspath(p) for p in paths],
                        'averaged_epochs': [s.get('epoch') for s in states]}
    for key in ('args', 'epoch'):
        if key in states[-1]:
            checkpoint[key] = states[-1][key]
    return checkpoint


def last_evaluated_checkpoints(models_dir: str, epochs: List[int], count: int) -> List[str]:
    """The files models_dir/epoch_<N>.pt of the last `count` of `epochs` (each must exist)."""
    paths = [os.path.join(models_dir, f"epoch_{epoch}.pt") for epoch in epochs[-count:]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise CheckpointError(f"cannot average the last {count} evaluated checkpoints: missing {', '.join(missing)}")
    return paths
