"""What a run selects, stores and reports (issue: results a reviewer can trust): the
epoch chosen on development data, thresholds from development scores, the oracle
minima under their own name, the averaged model, the results card and the release."""
import hashlib
import json
import os

import numpy as np
import pytest
import safetensors.torch
import torch

import trainer.trainer as trainer_module
from evaluation.metrics import compute_eer
from evaluation.selection import oracle_minima, selected_record
from tests.helpers import FIXTURES, tiny_args
from tools import export_release as export_tool
from tools import infer
from trainer.trainer import Trainer
from utils.checkpoint_file import load_checkpoint

# Separation of the classes per (set, evaluation): the development set is best at
# epoch 1, 19LA eval at epoch 2, so that choosing on 19LA eval would pick another epoch.
SEPARATION = {'19LA_dev': [3.0, 0.5, 1.0], '19LA': [0.5, 3.0, 1.0], '21LA': [1.0, 1.0, 1.0], '21DF': [2.0, 0.2, 1.0]}


def constructed_scores(calls):
    def score_trials(model, trials, crop, batch_size, device, num_workers=0, desc='', sample_rate=16000,
                     should_stop=None):
        name = desc.split()[-1]
        call = calls.setdefault(name, 0)
        calls[name] += 1
        generator = np.random.default_rng([call, len(name)])
        labels = np.array([t.label for t in trials], float)
        return labels * SEPARATION[name][call] + generator.normal(0, 1, len(trials))
    return score_trials


@pytest.fixture(scope='module')
def constructed_run(demo_corpus, tmp_path_factory):
    """Two trained epochs, evaluated after each with constructed scores, averaged."""
    log_dir = tmp_path_factory.mktemp('constructed')
    patch = pytest.MonkeyPatch()
    patch.setattr(trainer_module, 'score_trials', constructed_scores({}))
    trainer = Trainer(tiny_args(demo_corpus, log_dir, 'name=constructed', 'average_last=2',
                                'neptune_token=secret-token-123'))
    trainer.run()
    patch.undo()
    return trainer


def _scores(run_dir, stem):
    rows = [line.split() for line in open(os.path.join(run_dir, 'scores', stem + '.tsv')).read().splitlines()[1:]]
    header = open(os.path.join(run_dir, 'scores', stem + '.tsv')).readline().split('\t')
    label, score = header.index('label'), header.index('score')
    labels = np.array([int(r[label]) for r in rows])
    scores = np.array([float(r[score]) for r in rows])
    return scores[labels == 1], scores[labels == 0]


def test_selection_prefers_the_development_set_over_the_test_set():
    def record(epoch, dev, test):
        return {'epoch': epoch, 'dev': {'name': '19LA_dev', 'eer': dev}, 'sets': {'19LA': {'eer': test}}}
    records = [record(1, 9.0, 5.0), record(2, 4.0, 7.0), record(3, 4.0, 2.0), record(4, 6.0, 1.0)]
    assert selected_record(records, '19LA_dev')['epoch'] == 2          # lowest dev EER, the earliest on a tie
    assert selected_record(records, None)['epoch'] == 4                # no development set: the last evaluation
    assert oracle_minima(records) == {'19LA': {'eer': 1.0, 'epoch': 4}}
    asv5 = [{'epoch': 1, 'dev': None, 'sets': {'ASV5dev': {'eer': 3.0}}},
            {'epoch': 2, 'dev': None, 'sets': {'ASV5dev': {'eer': 2.0}}}]
    assert selected_record(asv5, 'ASV5dev')['epoch'] == 2


def test_the_selected_epoch_is_the_best_on_development_data_not_on_the_test_set(constructed_run):
    run = constructed_run.run_dir
    dev = [compute_eer(*_scores(run, f'19LA_dev_epoch{e}'))[0] for e in (1, 2)]
    test = [compute_eer(*_scores(run, f'19LA_epoch{e}'))[0] for e in (1, 2)]
    assert dev[0] < dev[1] and test[1] < test[0]    # the constructed case: the two sets disagree
    selected = load_checkpoint(os.path.join(run, 'models', 'selected.pt'))
    assert selected['epoch'] == 1 and selected['select_on'] == '19LA_dev'
    epoch_1 = load_checkpoint(os.path.join(run, 'models', 'epoch_1.pt'))
    for name, tensor in epoch_1['model'].items():
        assert torch.equal(selected['model'][name], tensor), name
    card = json.load(open(os.path.join(run, 'results.json')))
    assert card['selection']['epoch'] == 1 and card['selection']['dev_eer'] == pytest.approx(100 * dev[0])
    assert card['selected']['sets']['19LA']['eer'] == pytest.approx(100 * test[0])
    assert card['oracle']['19LA'] == {'eer': pytest.approx(100 * test[1]), 'epoch': 2}
    oracle_lines = open(os.path.join(run, 'metrics', 'eval_19LA_best_eer_oracle.txt')).read().splitlines()
    assert [float(line.split(': ')[1]) for line in oracle_lines] == pytest.approx([100 * test[0], 100 * test[1]])
    assert not os.path.exists(os.path.join(run, 'metrics', 'eval_19LA_best_eer.txt'))


def test_every_checkpoint_threshold_is_the_development_eer_threshold(constructed_run):
    run = constructed_run.run_dir
    for file, epoch in (('epoch_1.pt', 1), ('epoch_2.pt', 2), ('last.pt', 2), ('selected.pt', 1)):
        state = load_checkpoint(os.path.join(run, 'models', file))
        dev_threshold = compute_eer(*_scores(run, f'19LA_dev_epoch{epoch}'))[1]
        eval_threshold = compute_eer(*_scores(run, f'19LA_epoch{epoch}'))[1]
        assert state['threshold'] == pytest.approx(dev_threshold, abs=1e-5), file  # files keep 6 decimals
        assert abs(state['threshold'] - eval_threshold) > 1e-3, file
        calibration, bayes = state['calibration'], state['bayes_threshold']
        assert bayes['p_spoof'] == 0.05 and bayes['llr'] == pytest.approx(-np.log(0.95 / 0.5))
        assert calibration['scale'] * bayes['score'] + calibration['offset'] == pytest.approx(bayes['llr'])


def test_the_averaged_model_is_the_mean_of_the_last_checkpoints_and_has_its_own_row(constructed_run):
    run = constructed_run.run_dir
    one, two = (load_checkpoint(os.path.join(run, 'models', f'epoch_{e}.pt'))['model'] for e in (1, 2))
    averaged = load_checkpoint(os.path.join(run, 'models', 'averaged.pt'))
    assert averaged['averaged_epochs'] == [1, 2]
    for name, tensor in one.items():
        if tensor.is_floating_point():
            expected = ((tensor.double() + two[name].double()) / 2).to(tensor.dtype)
        else:
            expected = torch.div(tensor + two[name], 2, rounding_mode='floor')
        assert torch.equal(averaged['model'][name], expected), name
    assert averaged['threshold'] == pytest.approx(compute_eer(*_scores(run, '19LA_dev_averaged'))[1], abs=1e-5)
    card = json.load(open(os.path.join(run, 'results.json')))
    assert card['averaged']['epochs'] == [1, 2]
    assert card['averaged']['sets']['19LA']['eer'] == pytest.approx(100 * compute_eer(*_scores(run, '19LA_averaged'))[0])
    assert os.path.isfile(os.path.join(run, 'metrics', 'eval_averaged_19LA_eer.txt'))
    last = load_checkpoint(os.path.join(run, 'models', 'last.pt'))   # training's own weights stay in last.pt
    assert all(torch.equal(last['model'][name], two[name]) for name in two)


def test_the_results_card_says_where_the_numbers_come_from(constructed_run):
    run = constructed_run.run_dir
    card = json.load(open(os.path.join(run, 'results.json')))
    assert len(card['git']['commit']) == 40 and card['git']['dirty'] in (True, False)
    assert card['config']['neptune_token'] == '<redacted>'
    assert 'secret-token-123' not in open(os.path.join(run, 'results.json')).read()
    assert 'secret-token-123' not in open(os.path.join(run, 'results.md')).read()
    assert set(card['datasets']) == {'train', '19LA_dev', '19LA', '21LA', '21DF'}
    for name, entry in card['datasets'].items():
        assert entry['sha256'] == hashlib.sha256(open(entry['protocol'], 'rb').read()).hexdigest(), name
    assert card['datasets']['19LA']['trials'] == 210 and card['datasets']['19LA_dev']['bona'] == 30
    assert [r['epoch'] for r in card['evaluations']] == [1, 2]
    assert card['selected']['threshold'] == load_checkpoint(os.path.join(run, 'models', 'selected.pt'))['threshold']
    markdown = open(os.path.join(run, 'results.md')).read()
    assert 'oracle EER % (epoch)' in markdown and '| selected (epoch 1) | 19LA |' in markdown
    assert '| averaged (epochs 1, 2) | 19LA |' in markdown


def card_eer(run_dir, name):
    return json.load(open(os.path.join(run_dir, 'results.json')))['selected']['sets'][name]['eer']


def test_a_release_folder_holds_the_model_card_and_serves_infer_and_test(constructed_run, demo_corpus, tmp_path,
                                                                          capsys):
    out = str(tmp_path / 'release')
    assert export_tool.main([constructed_run.run_dir, '--out', out]) == 0
    for name in ('model.safetensors', 'config.json', 'results.json', 'README.md', 'scores/19LA_epoch1.txt',
                 'scores/19LA_dev_epoch1_llr.txt', 'scores/21DF_epoch1.tsv'):
        assert os.path.isfile(os.path.join(out, name)), name
    assert not any('epoch2' in name for name in os.listdir(os.path.join(out, 'scores')))
    selected = load_checkpoint(os.path.join(constructed_run.run_dir, 'models', 'selected.pt'))
    weights = safetensors.torch.load_file(os.path.join(out, 'model.safetensors'))
    assert weights.keys() == selected['model'].keys()
    assert all(torch.equal(weights[name], selected['model'][name]) for name in weights)
    config = json.load(open(os.path.join(out, 'config.json')))
    model = config.pop('ebm_release')
    assert model['epoch'] == 1 and model['threshold'] == selected['threshold'] and 'optimizer' not in model
    assert config == selected['args'] and config['neptune_token'] == '<redacted>'
    card = open(os.path.join(out, 'README.md')).read()
    front_matter = card.split('---\n')[1]     # the Hugging Face model-card metadata
    assert 'pipeline_tag: audio-classification' in front_matter and 'library_name: pytorch' in front_matter
    assert f"value: {card_eer(constructed_run.run_dir, '19LA'):.4f}" in front_matter
    assert 'tools.infer --checkpoint' in card and 'Detector.from_pretrained' in card
    assert export_tool.main([constructed_run.run_dir, '--out', out]) == 2          # never over an earlier release
    assert 'not empty' in capsys.readouterr().err
    files = sorted(os.path.join(FIXTURES, 'asvspoof2019_la', f) for f in os.listdir(
        os.path.join(FIXTURES, 'asvspoof2019_la')) if f.endswith('.flac'))
    assert infer.main(['--checkpoint', out, '--json', '--device', 'cpu', *files]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed['threshold'] == model['threshold']
    assert all(r['decision'] == ('bonafide' if r['score'] > model['threshold'] else 'spoof') for r in printed['results'])
    for p_spoof, bayes_llr in (('0.05', -np.log(0.95 / 0.5)), ('0.5', np.log(10.0))):   # -log(C_miss P_bona / C_fa P_spoof)
        assert infer.main(['--checkpoint', out, '--json', '--device', 'cpu', '--decision', 'bayes',
                           '--p-spoof', p_spoof, *files]) == 0
        printed = json.loads(capsys.readouterr().out)
        calibration = model['calibration']
        assert calibration['scale'] * printed['threshold'] + calibration['offset'] == pytest.approx(bayes_llr)
        assert all(r['decision'] == ('bonafide' if r['llr'] > bayes_llr + 1e-9 else 'spoof') or
                   abs(r['llr'] - bayes_llr) < 1e-6 for r in printed['results'])
    assert printed['threshold'] != model['threshold']
    tester = Trainer(tiny_args(demo_corpus, tmp_path / 'logs', 'TEST=True', f'checkpoint={out}', 'path_21LA=None',
                               'path_21DF=None'))
    tester.run()
    assert os.path.basename(tester.run_dir) == 'test_release'
    assert [r['epoch'] for r in tester.records] == [1] and set(tester.records[0]['sets']) == {'19LA'}
    assert os.path.isfile(os.path.join(tester.run_dir, 'results.json'))
