"""Named presets (`recipe=NAME`): key=value settings applied before the command line's, as
`--demo`'s are, so that a key given there wins. Each is printed at the start of a run and
stored in its results card.

small_data: for corpora of a few thousand utterances or fewer, on one GPU or a CPU, and for
audio that does not fill the band (telephone). The short-corpus schedule of the real-speech
benchmarks (12 epochs instead of 150; training views of 2 s and 1.5 s instead of 4 s and 3 s,
the published 4 s test crop kept; learning rate 3e-4 with its cosine over the run instead of
1e-6; evaluation every 4 epochs; 4 + 16 rows per batch) and the LFCC band measured from the
training audio (lfcc_band=auto, DEVIATION:lfcc-band-from-data). Model, losses and augmentation
are the published ones. Measured: docs/results/small_data.md.
"""
from typing import Dict, List, Optional, Tuple

SMALL_DATA_SCHEDULE = ('epoch=12', 'eval_from_epoch=4', 'eval_every=4', 'batch_size=20', 'ratio_bona=0.2',
                       'ratio_spoof=0.8', 'num_train_frames=204', 'num_train_frames_short=154', 'lr=0.0003',
                       'lr_min=0.00001', 'T_0=12')

RECIPES: Dict[str, Tuple[str, ...]] = {
    'small_data': SMALL_DATA_SCHEDULE + ('lfcc_band=auto',),
}


def recipe_names() -> List[str]:
    return list(RECIPES)


def recipe_settings(name: Optional[str]) -> Tuple[str, ...]:
    """The key=value settings of recipe `name` (() for None); KeyError for an unknown name."""
    return RECIPES[name] if name is not None else ()


def recipe_values(args: dict) -> Dict[str, object]:
    """{key: the run's value} of every key the run's recipe sets (a key given on the command line
    after it keeps the command line's value); {} without a recipe."""
    return {item.split('=', 1)[0]: args[item.split('=', 1)[0]] for item in recipe_settings(args['recipe'])}


def describe_recipe(args: dict) -> Optional[str]:
    """The line a run prints at its start: the recipe and each of its keys with the run's value."""
    values = recipe_values(args)
    if not values:
        return None
    return f"recipe={args['recipe']}: " + ' '.join(f"{key}={value}" for key, value in values.items())
