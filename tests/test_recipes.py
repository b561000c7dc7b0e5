"""recipe=small_data (issue 36): a preset applied before the command line's settings, as --demo's
are; each of its keys is printed at the start and stored in the results card, and a sweep knows
the band a run measured from its data is the run's to set."""
import json
import os

import pytest

from arguments import get_args
from evaluation.results_card import build_card, card_markdown
from recipes.presets import RECIPES, SMALL_DATA_SCHEDULE, describe_recipe, recipe_values
from tools import seeds
from utils.config import ConfigError


def test_the_recipe_sets_its_keys_and_the_command_line_wins():
    defaults, preset = get_args()[0], get_args(['recipe=small_data'])[0]
    assert preset['recipe'] == 'small_data' and preset['lfcc_band'] == 'auto' and defaults['lfcc_band'] == 'full'
    for item in SMALL_DATA_SCHEDULE:
        key, value = item.split('=')
        assert str(preset[key]) == value or float(preset[key]) == float(value), key
    assert (preset['epoch'], preset['lr'], preset['num_train_frames']) == (12, 0.0003, 204)
    assert (defaults['epoch'], defaults['lr'], defaults['num_train_frames']) == (150, 1e-6, 404)
    assert get_args(['epoch=5', 'recipe=small_data'])[0]['epoch'] == 5      # wherever it stands
    with pytest.raises(ConfigError, match="recipe='big': must be one of small_data"):
        get_args(['recipe=big'])


def test_every_key_is_printed_and_stored_in_the_results_card(tmp_path):
    args = get_args(['recipe=small_data', 'epoch=5'])[0]
    line = describe_recipe(args)
    assert line.startswith('recipe=small_data: ') and 'epoch=5' in line and 'lfcc_band=auto' in line
    assert set(recipe_values(args)) == {item.split('=')[0] for item in RECIPES['small_data']}
    assert describe_recipe(get_args()[0]) is None and recipe_values(get_args()[0]) == {}
    card = build_card(args, [], None, {}, str(tmp_path), recipe=recipe_values(args))
    assert card['recipe'] == {'name': 'small_data', 'settings': recipe_values(args)}
    assert '- recipe: small_data (epoch=5, ' in card_markdown(card)
    assert json.loads(json.dumps(card, default=float))['recipe']['settings']['lr'] == 0.0003


def test_a_sweep_takes_the_measured_band_of_a_finished_run_as_its_own(tmp_path):
    """tools.seeds skips a seed whose card holds this configuration: with lfcc_band=auto the card
    holds the band the run measured, not the unset keys of the command line."""
    args = get_args([f'path_log={tmp_path}', 'recipe=small_data'])[0]
    run = tmp_path / 'run'
    os.makedirs(run)
    measured = {**args, 'lfcc_f_min': 126.1, 'lfcc_f_max': 3444.9}
    (run / 'results.json').write_text(json.dumps({'config': measured}))
    assert seeds.finished(str(run), args)
    (run / 'results.json').write_text(json.dumps({'config': {**measured, 'lr': 0.001}}))
    assert not seeds.finished(str(run), args)
    full = get_args([f'path_log={tmp_path}'])[0]
    (run / 'results.json').write_text(json.dumps({'config': {**full, 'lfcc_f_max': 3400.0}}))
    assert not seeds.finished(str(run), full)          # without lfcc_band=auto the band is the configuration's
