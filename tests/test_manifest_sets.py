"""Any labelled audio as a set (issue 34): manifests and folders beside the ASVspoof layouts,
ASVspoof 5 as a training set, the pre-flight of every source, reports by any grouping, and
fine-tuning from another run's weights."""
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from arguments import get_args
from data.manifest import read_manifest
from data.protocol import read_asvspoof2019
from tests.helpers import make_itw_and_asv5, tiny_args
from tools import make_manifest
from trainer.launch import preflight
from trainer.trainer import Trainer
from utils.checkpoint_file import load_checkpoint
from utils.config import ConfigError
from utils.errors import BadInput

WALL_CLOCK = ('train_items_per_s.txt', 'train_data_wait_fraction.txt')


def _manifests_of_the_demo(demo_corpus, folder):
    """The demo corpus's 2019 LA train, dev and eval and 2021 LA sets as manifests named after the
    sets (so that reports and metric files carry the same names)."""
    os.makedirs(folder, exist_ok=True)
    for name, root_key, out in (('19LA_train', 'path_19LA', 'train.csv'), ('19LA_dev', 'path_19LA', '19LA_dev.csv'),
                                ('19LA', 'path_19LA', '19LA.tsv'), ('21LA', 'path_21LA', '21LA.csv')):
        assert make_manifest.main(['--asvspoof', name, '--root', demo_corpus[root_key],
                                   '--out', os.path.join(folder, out)]) == 0
    return {name: os.path.join(folder, name) for name in ('train.csv', '19LA_dev.csv', '19LA.tsv', '21LA.csv')}


def _metric_files(run_dir):
    folder = os.path.join(run_dir, 'metrics')
    return {name: open(os.path.join(folder, name), 'rb').read() for name in sorted(os.listdir(folder))
            if name not in WALL_CLOCK}


def test_the_demo_corpus_through_manifests_gives_the_metric_files_of_its_layout(demo_corpus, tiny_run, tmp_path):
    """tiny_run trains on the 19LA layout (epoch 1, 19LA dev selection, 19LA and 21LA eval); the
    same rows given as manifests give byte-identical metric files (num_workers=0)."""
    paths = _manifests_of_the_demo(demo_corpus, str(tmp_path / 'manifests'))
    args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=tiny', 'epoch=1', 'path_21DF=None',
                     f"train_set={paths['train.csv']}", f"calibration_set={paths['19LA_dev.csv']}", 'select_on=dev',
                     f"eval_sets={paths['19LA.tsv']},{paths['21LA.csv']}")
    trainer = Trainer(args)
    trainer.run()
    expected, got = _metric_files(tiny_run), _metric_files(trainer.run_dir)
    assert sorted(got) == sorted(expected)
    assert 'eval_19LA_dev_eer.txt' in got and 'eval_21LA_eer.txt' in got
    for name in expected:
        assert got[name] == expected[name], name


def test_make_manifest_writes_what_the_reader_reads_back(demo_corpus, tmp_path):
    out = str(tmp_path / 'eval.tsv')
    assert make_manifest.main(['--asvspoof', '19LA', '--root', demo_corpus['path_19LA'], '--out', out,
                               '--split', 'eval']) == 0
    header = open(out).readline().rstrip('\n').split('\t')
    assert header == ['utt_id', 'path', 'label', 'attack', 'split']
    original = read_asvspoof2019(demo_corpus['path_19LA'], 'eval')
    read = read_manifest(out, 'eval').trials
    assert [(t.utt_id, t.path, t.label, t.attack) for t in read] == \
        [(t.utt_id, os.path.normpath(t.path), t.label, t.attack) for t in original]
    assert read[3].origin == f"{out}:5"
    assert read_manifest(out, None).trials == read
    with pytest.raises(BadInput, match='no row of the train split'):
        read_manifest(out, 'train')


def _folder_corpus(demo_corpus, root, split, per_class):
    """ROOT/bonafide/*.flac and ROOT/spoof/<attack>/*.flac copied from a 19LA split of the demo."""
    trials = read_asvspoof2019(demo_corpus['path_19LA'], split)
    bona = [t for t in trials if t.label][:per_class]
    spoof = [t for t in trials if not t.label][:3 * per_class]
    for trial in bona + spoof:
        folder = os.path.join(root, 'bonafide') if trial.label else os.path.join(root, 'spoof', trial.attack)
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(trial.path, os.path.join(folder, os.path.basename(trial.path)))
    return root


def test_a_folder_corpus_trains_evaluates_resumes_and_tests(demo_corpus, tmp_path):
    train = _folder_corpus(demo_corpus, str(tmp_path / 'calls_train'), 'train', 40)
    dev = _folder_corpus(demo_corpus, str(tmp_path / 'calls_dev'), 'dev', 20)
    evaluation = _folder_corpus(demo_corpus, str(tmp_path / 'calls_eval'), 'eval', 20)
    sets = [f'train_set={train}', f'calibration_set={dev}', 'select_on=dev', f'eval_sets={evaluation}']
    first = tiny_args(demo_corpus, tmp_path / 'logs', 'name=folders', 'epoch=1', *sets)
    checked = preflight(first)
    assert len(checked.trials.train) == 160 and {t.attack for t in checked.trials.train if not t.label} == \
        {'A01', 'A02', 'A03', 'A04', 'A05', 'A06'} & {t.attack for t in checked.trials.train}
    Trainer(first, trials=checked.trials).run()
    run = tmp_path / 'logs' / 'P' / 't' / 'folders'
    assert (run / 'metrics' / 'eval_calls_dev_eer.txt').is_file()
    assert (run / 'metrics' / 'eval_calls_eval_eer.txt').read_text().startswith('[1] ')
    assert os.path.isfile(run / 'scores' / 'calls_eval_epoch1_breakdown.tsv')

    resumed = tiny_args(demo_corpus, tmp_path / 'logs', 'name=folders', 'epoch=2', 'resume=auto', *sets)
    Trainer(resumed, state=preflight(resumed).state).run()
    lines = (run / 'metrics' / 'eval_calls_eval_eer.txt').read_text().splitlines()
    assert [line.split(']')[0] for line in lines] == ['[1', '[2']
    assert load_checkpoint(str(run / 'models' / 'last.pt'))['epoch'] == 2

    test = tiny_args(demo_corpus, tmp_path / 'logs', 'name=folders_test', 'TEST=True',
                     f"checkpoint={run / 'models' / 'selected.pt'}", f'calibration_set={dev}', 'select_on=dev',
                     f'eval_sets={evaluation}', 'train_set=/nowhere')
    tester = Trainer(test, state=preflight(test).state)
    tester.run()
    card = open(os.path.join(tester.run_dir, 'results.md')).read()
    assert '| calls_eval |' in card and '## calls_eval: EER by attack and grouping' in card


def test_asvspoof5_train_and_dev_are_a_training_and_a_development_set(demo_corpus, tmp_path):
    roots = make_itw_and_asv5(demo_corpus, str(tmp_path / 'sets'))
    args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=asv5', 'epoch=1', f"path_ASV5={roots['path_ASV5']}",
                     'train_set=ASV5', 'calibration_set=ASV5dev', 'select_on=dev', 'eval_sets=ASV5eval')
    checked = preflight(args)
    train = checked.trials.train
    assert len(train) == len(read_asvspoof2019(demo_corpus['path_19LA'], 'train'))
    assert all('/flac_T/T_' in t.path for t in train)
    assert list(checked.trials.evaluation) == ['ASV5eval']
    trainer = Trainer(args, trials=checked.trials)
    trainer.run()
    metrics = os.listdir(os.path.join(trainer.run_dir, 'metrics'))
    assert 'eval_ASV5dev_eer.txt' in metrics and 'eval_ASV5eval_eer.txt' in metrics
    assert trainer.evaluator.selected['dev']['name'] == 'ASV5dev'


# ------------------------------------------------------------------ the pre-flight of a manifest

def _write(path, rows, header='path,label'):
    with open(path, 'w') as handle:
        handle.write(header + '\n' + ''.join(row + '\n' for row in rows))
    return str(path)


@pytest.fixture(scope='module')
def audio(tmp_path_factory):
    """Files for manifests: good 16 kHz ones, a short one, an 8 kHz one, a NaN one, a broken one."""
    folder = tmp_path_factory.mktemp('audio')
    rng = np.random.default_rng(0)
    for index in range(6):
        sf.write(folder / f'good{index}.wav', 0.1 * rng.standard_normal(16000), 16000)
    sf.write(folder / 'short.wav', 0.1 * rng.standard_normal(100), 16000)
    sf.write(folder / 'narrow.wav', 0.1 * rng.standard_normal(8000), 8000)
    wave = 0.1 * rng.standard_normal(16000).astype(np.float32)
    wave[100] = np.nan
    sf.write(folder / 'nan.wav', wave, 16000, subtype='FLOAT')
    (folder / 'broken.wav').write_bytes(b'RIFF not really a wave file')
    return folder


GOOD = ['good0.wav,bonafide', 'good1.wav,bonafide', 'good2.wav,spoof', 'good3.wav,spoof']
WITH_IDS = [f"{row},{index}" for index, row in enumerate(GOOD)]
CASES = {
    # name: (header, rows, the line named, what the message says, extra overrides)
    'missing file': ('path,label', GOOD + ['absent.wav,spoof'], 6, 'missing', ()),
    'unreadable file': ('path,label', GOOD + ['broken.wav,spoof'], 6, 'unreadable', ()),
    'unknown label': ('path,label', GOOD + ['good4.wav,fake'], 6, "label 'fake'", ()),
    'one class only': ('path,label', ['good0.wav,spoof', 'good1.wav,spoof'], None, '0 bona fide and 2 spoof', ()),
    'repeated path': ('path,label', GOOD + ['good0.wav,spoof'], 6, "is already on line 2", ()),
    'repeated id': ('path,label,utt_id', WITH_IDS + ['good4.wav,spoof,1'], 6, "utterance id '1' is already on line 3",
                    ()),
    'short file': ('path,label', GOOD + ['short.wav,spoof'], 6, 'shorter than the', ()),
    'sample rate': ('path,label', GOOD + ['narrow.wav,spoof'], 6, 'sample rate 8000 Hz', ()),
    'non-finite samples': ('path,label', GOOD + ['nan.wav,spoof'], 6, 'non-finite', ('preflight_decode=True',)),
    'wrong column count': ('path,label', GOOD + ['good4.wav,spoof,extra'], 6, '3 columns, the header has 2', ()),
}


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('role', ['train_set', 'eval_sets'])
def test_every_manifest_problem_is_named_with_its_line_before_anything_is_written(case, role, audio, tmp_path,
                                                                                  demo_corpus):
    header, rows, line, says, extra = CASES[case]
    manifest = _write(audio / f"{case.replace(' ', '_')}_{role}.csv", rows, header)
    good = _write(tmp_path / 'good.csv', [f"{audio / row.split(',')[0]},{row.split(',')[1]}" for row in GOOD])
    sets = {'train_set': good, 'eval_sets': good, role: manifest}
    args = tiny_args(demo_corpus, tmp_path / 'logs', f"train_set={sets['train_set']}", 'calibration_set=None',
                     'select_on=None', f"eval_sets={sets['eval_sets']}", *extra)
    with pytest.raises(BadInput) as raised:
        preflight(args)
    message = str(raised.value)
    assert says in message
    if line is not None:
        assert f"{manifest}:{line}" in message
    assert not (tmp_path / 'logs').exists()


def test_a_set_that_is_neither_a_name_nor_a_path_is_refused_by_the_configuration():
    with pytest.raises(ConfigError, match="calibration_set='19LA_Dev': neither an ASVspoof name"):
        get_args(['calibration_set=19LA_Dev'])
    with pytest.raises(ConfigError, match="eval_sets='ASV5eval': the ASV5eval set is read under path_ASV5"):
        get_args(['eval_sets=19LA,ASV5eval'])
    with pytest.raises(ConfigError, match="select_on='dev'"):
        get_args(['select_on=dev', 'calibration_set=None'])
    assert get_args([])[0]['eval_sets'] is None and get_args([])[0]['train_set'] == '19LA'


def test_two_sets_that_would_report_under_one_name_are_refused(tmp_path):
    """Metric, score and figure files are named after the sets: a development set and an
    evaluation set of the same name would write into each other's files."""
    for folder in ('a', 'b'):
        os.makedirs(tmp_path / folder)
        _write(tmp_path / folder / 'calls.csv', ['x.wav,bonafide'])
    with pytest.raises(ConfigError, match=r"reports as 'calls', as calibration_set="):
        get_args([f"calibration_set={tmp_path / 'a' / 'calls.csv'}", 'select_on=dev',
                  f"eval_sets={tmp_path / 'b' / 'calls.csv'}"])


# ------------------------------------------------------------------ reports by any grouping

def test_every_manifest_column_is_a_grouping_in_the_reports_and_the_card(demo_corpus, tiny_run, tmp_path):
    trials = read_asvspoof2019(demo_corpus['path_19LA'], 'eval')
    languages, speakers = ['en', 'ko'], ['s1', 's2', 's3']
    rows = [f"{t.path},{'bonafide' if t.label else 'spoof'},{'' if t.label else t.attack},"
            f"{speakers[i % 3]},{languages[i % 2]}" for i, t in enumerate(trials)]
    manifest = _write(tmp_path / 'calls.csv', rows, header='path,label,attack,speaker,language')
    checkpoint = os.path.join(tiny_run, 'models', 'selected.pt')
    args = tiny_args(demo_corpus, tmp_path / 'logs', 'TEST=True', f'checkpoint={checkpoint}', f'eval_sets={manifest}')
    trainer = Trainer(args)
    trainer.run()     # tiny_run's model, evaluated at its epoch 1
    run = trainer.run_dir
    table = open(os.path.join(run, 'scores', 'calls_epoch1_breakdown.tsv')).read().splitlines()
    groups = {line.split('\t')[0] for line in table[1:]}
    assert {'pooled', 'attack', 'speaker', 'language'} <= groups
    # the EER of one language equals the EER computed from the score file's rows of that language
    scored = [line.split('\t') for line in open(os.path.join(run, 'scores', 'calls_epoch1.tsv')).read().splitlines()]
    header = scored[0]
    korean = [row for row in scored[1:] if row[header.index('language')] == 'ko']
    from evaluation.metrics import compute_eer
    bona = np.array([float(r[header.index('score')]) for r in korean if r[header.index('label')] == '1'])
    spoof = np.array([float(r[header.index('score')]) for r in korean if r[header.index('label')] == '0'])
    row = next(line.split('\t') for line in table if line.startswith('language\tko\t'))
    assert float(row[4]) == pytest.approx(100 * compute_eer(bona, spoof)[0], abs=1e-6)
    images = os.listdir(os.path.join(run, 'images'))
    assert any(name.startswith('calls_scores_by_language_epoch1') for name in images)
    assert any(name.startswith('calls_scores_by_speaker_epoch1') for name in images)
    card = open(os.path.join(run, 'results.md')).read()
    assert '## calls: EER by attack and grouping (selected epoch)' in card and '| language | ko |' in card


# ------------------------------------------------------------------ fine-tuning

class _Stop(Exception):
    pass


def _state_at_step_zero(args, monkeypatch):
    """The detector's weights and the optimiser's state when the first training epoch starts."""
    seen = {}

    def first_epoch(trainer, epoch):
        seen['model'] = {k: v.clone() for k, v in trainer.detector.state_dict().items()}
        seen['optimizer'] = trainer.optimizer.state_dict()
        seen['epoch'], seen['lr'] = trainer.epoch, trainer.optimizer.param_groups[0]['lr']
        raise _Stop

    monkeypatch.setattr(Trainer, 'train_epoch', first_epoch)
    with pytest.raises(_Stop):
        Trainer(args, state=preflight(args).state).run()
    return seen


def test_a_fine_tuned_run_starts_from_the_weights_with_a_fresh_optimiser(demo_corpus, tiny_run, tmp_path, monkeypatch):
    source = os.path.join(tiny_run, 'models', 'last.pt')
    saved = load_checkpoint(source)
    assert saved['optimizer']['state']          # the source carries a trained optimiser ...
    args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=tuned', f'init_from={source}', 'lr=0.0005')
    seen = _state_at_step_zero(args, monkeypatch)
    for name, tensor in saved['model'].items():
        assert torch.equal(seen['model'][name], tensor), name
    assert seen['optimizer']['state'] == {}     # ... that the fine-tuned run does not take
    assert seen['epoch'] == 0 and seen['lr'] == pytest.approx(0.0005)


def test_fine_tuning_from_a_release_folder_and_an_imported_release(demo_corpus, tiny_run, tmp_path, monkeypatch):
    from tools import export_release
    folder = str(tmp_path / 'release')
    assert export_release.main([tiny_run, '--out', folder]) == 0
    released = load_checkpoint(folder)
    seen = _state_at_step_zero(tiny_args(demo_corpus, tmp_path / 'logs', 'name=from_release',
                                         f'init_from={folder}'), monkeypatch)
    assert all(torch.equal(seen['model'][name], tensor) for name, tensor in released['model'].items())


def test_weights_that_do_not_fit_are_refused_before_training_naming_the_keys(demo_corpus, tiny_run, tmp_path):
    args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=misfit', 'output_size=48',
                     f"init_from={os.path.join(tiny_run, 'models', 'last.pt')}")
    with pytest.raises(BadInput, match=r"output_size=32.*output_size=48"):
        preflight(args)
    assert not (tmp_path / 'logs').exists() or not any((tmp_path / 'logs').rglob('*.pt'))


@pytest.mark.parametrize('start', ['init_from', 'resume'])
def test_the_starting_weights_are_read_once_and_checked_on_the_meta_device(start, demo_corpus, tiny_run, tmp_path,
                                                                          monkeypatch):
    """Fine-tuning (init_from) or resuming (resume=auto): the pre-flight reads the checkpoint and
    hands it to the trainer (one read in all), and checks that it fits a detector built on the
    meta device (no weights made)."""
    import trainer.build as build
    import trainer.launch as launch
    import trainer.trainer as trainer_module
    from utils.checkpoint_file import load_checkpoint as real_load
    reads, devices = [], []

    def counted(path, *rest, **options):
        reads.append(path)
        return real_load(path, *rest, **options)

    def recorded(args):
        detector = build_detector_for_checkpoint(args)
        devices.append({tensor.device.type for tensor in detector.parameters()})
        return detector

    build_detector_for_checkpoint = build.build_detector_for_checkpoint
    monkeypatch.setattr(launch, 'load_checkpoint', counted)
    monkeypatch.setattr(trainer_module, 'load_checkpoint', counted)
    monkeypatch.setattr(build, 'build_detector_for_checkpoint', recorded)
    if start == 'init_from':
        source = os.path.join(tiny_run, 'models', 'last.pt')
        args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=once', f'init_from={source}')
    else:                       # tiny_run's folder, continued for a second epoch
        shutil.copytree(tiny_run, tmp_path / 'logs' / 'P' / 't' / 'tiny')
        source = str(tmp_path / 'logs' / 'P' / 't' / 'tiny' / 'models' / 'last.pt')
        args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=tiny', 'epoch=2', 'path_21DF=None', 'resume=auto')
    seen = _state_at_step_zero(args, monkeypatch)
    assert reads == [source] and devices == [{'meta'}]
    assert all(torch.equal(seen['model'][name], tensor) for name, tensor in real_load(source)['model'].items())


@pytest.mark.parametrize('scope', ['heads', 'last_block'])
def test_init_train_trains_only_the_named_part(scope):
    """Three EBM steps of the parts build_training_parts makes: only the named part moves."""
    from tests.helpers import EBM_STEP_SMALL, feature_batch
    from trainer.build import build_training_parts
    from trainer.ebm_step import ebm_step
    args = get_args(EBM_STEP_SMALL + ['init_from=weights.pt', f'init_train={scope}'])[0]
    torch.manual_seed(0)
    parts = build_training_parts(args, None)
    before = {name: p.detach().clone() for name, p in parts.detector.named_parameters()}
    for seed in range(3):
        ebm_step(parts.model, parts.optimizer, parts.objective, *feature_batch(seed))
    moved = {name for name, p in parts.detector.named_parameters() if not torch.equal(before[name], p)}
    assert moved and all(name.startswith(parts.detector.fine_tune_prefixes(scope)) for name in moved)
    assert any(name.startswith('centroids.') for name in moved) and any(name.startswith('backends.') for name in moved)
    assert not any(name.startswith('frontend.conformer_mp.encoders.0.') for name in moved)
    assert any(name.startswith('frontend.conformer_mp.encoders.5.') for name in moved) == (scope == 'last_block')


def test_init_train_without_init_from_is_refused():
    with pytest.raises(ConfigError, match='init_train'):
        get_args(['init_train=heads'])


def test_score_file_reads_a_manifest_and_breaks_the_eer_down_by_its_columns(audio, tmp_path):
    from evaluation.metrics import compute_eer
    from tools import score_file
    rng = np.random.default_rng(3)
    labels = [1] * 20 + [0] * 40
    languages = ['en', 'ko'] * 30
    scores = rng.normal(0, 1, 60) + 1.5 * np.array(labels)
    rows = [f"{audio / 'good0.wav'}x{i},{'bonafide' if label else 'spoof'},{i},{language}"
            for i, (label, language) in enumerate(zip(labels, languages))]
    manifest = _write(tmp_path / 'calls.csv', rows, header='path,label,utt_id,language')
    (tmp_path / 'scores.txt').write_text(''.join(f"{i} {score:.6f}\n" for i, score in enumerate(scores)))
    out = tmp_path / 'breakdown.tsv'
    assert score_file.main(['--protocol', manifest, '--scores', str(tmp_path / 'scores.txt'), '--tsv', str(out)]) == 0
    rows = {tuple(line.split('\t')[:2]): float(line.split('\t')[4]) for line in out.read_text().splitlines()[1:]}
    chosen = np.array(languages) == 'ko'
    truth = np.array(labels)
    expected = 100 * compute_eer(scores[chosen & (truth == 1)], scores[chosen & (truth == 0)])[0]
    assert rows[('language', 'ko')] == pytest.approx(expected, abs=1e-4)


def test_recordings_at_another_rate_are_refused_and_converted_by_make_manifest(demo_corpus, tmp_path):
    """A practitioner's 44.1 kHz folder: the pre-flight names the rate; make_manifest --resample-to
    writes 16 kHz copies whose manifest passes, and whose audio is the original resampled."""
    from data.audio import read_audio
    rng = np.random.default_rng(1)
    for label, count in (('bonafide', 3), ('spoof/tts', 5)):
        os.makedirs(tmp_path / 'mine' / label)
        for index in range(count):
            sf.write(tmp_path / 'mine' / label / f'{index}.wav', 0.1 * rng.standard_normal(44100), 44100)
    folder = str(tmp_path / 'mine')
    args = tiny_args(demo_corpus, tmp_path / 'logs', f'train_set={folder}', 'calibration_set=None',
                     'select_on=None', f'eval_sets={folder}')
    with pytest.raises(BadInput, match='sample rate 44100 Hz, expected sample_rate=16000'):
        preflight(args)
    manifest = str(tmp_path / 'mine.csv')
    assert make_manifest.main(['--folder', folder, '--out', manifest, '--resample-to', str(tmp_path / 'mine16k')]) == 0
    args = tiny_args(demo_corpus, tmp_path / 'logs', f'train_set={manifest}', 'calibration_set=None',
                     'select_on=None', f'eval_sets={manifest}')
    trials = preflight(args).trials.train
    assert [t.attack for t in trials] == ['bonafide'] * 3 + ['tts'] * 5
    converted, rate = sf.read(trials[0].path)
    assert rate == 16000 and np.allclose(converted, read_audio(os.path.join(folder, 'bonafide', '0.wav'), 16000),
                                         atol=1e-4)


def test_a_default_development_set_the_user_never_typed_is_named_when_its_root_is_missing(demo_corpus, tmp_path):
    """Own data, development set forgotten: the message says that calibration_set's default asked
    for 2019 LA dev, and how to name another one."""
    folder = _folder_corpus(demo_corpus, str(tmp_path / 'calls'), 'eval', 4)
    args = get_args([f'train_set={folder}', f'eval_sets={folder}', f"path_19LA={tmp_path / 'absent'}",
                     f"path_log={tmp_path / 'logs'}"])[0]
    with pytest.raises(BadInput, match=r"^calibration_set=19LA_dev \(another development set: "
                                       r"calibration_set=MANIFEST_OR_FOLDER select_on=dev"):
        preflight(args)
