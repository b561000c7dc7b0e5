"""Shared test helpers: paths to the fixtures and reference data, the tiny configuration."""
import os
import shutil

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared')
REFERENCE = os.path.join(SHARED, 'reference')
FIXTURES = os.path.join(REPO, 'tests', 'fixtures')


def reference_path(*parts: str) -> str:
    """A path under ../shared/reference; the calling test is skipped when it is absent."""
    path = os.path.join(REFERENCE, *parts)
    if not os.path.exists(path):
        pytest.skip(f"needs {path} (the shared reference data beside the checkout), absent here")
    return path


TINY = ['output_size=32', 'linear_units=64', 'embedding_size=16', 'num_train_frames=54',
        'num_train_frames_short=44', 'num_test_frames=54', 'batch_size=16', 'ratio_bona=0.25', 'ratio_spoof=0.75',
        'epoch=2', 'eval_from_epoch=1', 'eval_every=1', 'lr=0.001', 'T_0=2', 'num_workers=0',
        'use_vocoder_copies=False', 'project=P', 'tags=[t]']


def tiny_args(demo_corpus, log_dir, *extra):
    """A small, fast configuration over the demo corpus (a few seconds per epoch on CPU)."""
    from arguments import get_args
    paths = [f"{key}={value}" for key, value in demo_corpus.items()]
    return get_args(paths + TINY + [f'path_log={log_dir}'] + list(extra))[0]


def metric_steps(run_dir, name):
    with open(os.path.join(run_dir, 'metrics', name)) as handle:
        return [int(line.split(']')[0][1:]) for line in handle.read().splitlines()]


def make_itw_and_asv5(demo_corpus, folder):
    """Small In-the-Wild and ASVspoof 5 (track 1) sets in their release layouts, built
    from the demo corpus's 19LA eval audio (ASVspoof 5 train: its 19LA train audio): returns {'path_ITW': ..., 'path_ASV5': ...}."""
    import soundfile as sf
    from data.protocol import read_asvspoof2019
    trials = read_asvspoof2019(demo_corpus['path_19LA'], 'eval')
    bona, spoof = [t for t in trials if t.label], [t for t in trials if not t.label]
    itw = os.path.join(folder, 'release_in_the_wild')
    os.makedirs(itw, exist_ok=True)
    speakers = ['Alec Guinness', 'Barack Obama', 'Donald Trump']
    with open(os.path.join(itw, 'meta.csv'), 'w') as meta:
        meta.write('file,speaker,label\n')
        for index, trial in enumerate(bona[:30] + spoof[:60]):
            wave, rate = sf.read(trial.path)
            sf.write(os.path.join(itw, f'{index}.wav'), wave, rate)
            meta.write(f"{index}.wav,{speakers[index % 3]},{'bona-fide' if trial.label else 'spoof'}\n")
    asv5 = os.path.join(folder, 'ASVspoof5')
    os.makedirs(os.path.join(asv5, 'ASVspoof5_protocols'), exist_ok=True)
    codecs = ['-', 'C01', 'C05']
    train = read_asvspoof2019(demo_corpus['path_19LA'], 'train')
    for split, audio, prefix, rows in (('train', 'flac_T', 'T', train),
                                       ('dev', 'flac_D', 'D', bona[:10] + spoof[:50]),
                                       ('eval', 'flac_E_eval', 'E', bona[10:25] + spoof[50:125])):
        os.makedirs(os.path.join(asv5, audio), exist_ok=True)
        protocol_name = 'ASVspoof5.train.tsv' if split == 'train' else f'ASVspoof5.{split}.track_1.tsv'
        with open(os.path.join(asv5, 'ASVspoof5_protocols', protocol_name), 'w') as protocol:
            for index, trial in enumerate(rows):
                name = f'{prefix}_{index:010d}'
                shutil.copyfile(trial.path, os.path.join(asv5, audio, name + '.flac'))
                attack = 'bonafide' if trial.label else f"A{17 + index % 3:02d}"
                protocol.write(f"{prefix}_{index % 7:04d} {name} {'F' if index % 2 else 'M'} {codecs[index % 3]} "
                               f"{index % 9} {index} {attack} {attack} {'bonafide' if trial.label else 'spoof'} -\n")
    return {'path_ITW': itw, 'path_ASV5': asv5}


def two_step_learning(detector, objective, optimizer, batch, steps):
    """Run `steps` EBM steps (trainer/ebm_step.py) on `batch(rows, bona) -> (inputs, labels)`;
    return (cosine before, cosine after, loss_2 of every step), the cosine being between the
    centroid and the mean direction of a fresh batch's bona fide embeddings in eval mode."""
    import torch
    from torch.nn import functional as F

    from trainer.ebm_step import ebm_step

    def cosine():
        inputs, labels = batch(24, 12)
        detector.eval()
        with torch.no_grad():
            direction = F.normalize(detector(inputs)[0][labels == 1], dim=1).mean(0)
        detector.train()
        return F.cosine_similarity(direction, detector.centroids[0][0], dim=0).item()

    before, losses_2 = cosine(), []
    for _ in range(steps):
        inputs, labels = batch(12, 4)
        losses_2.append(ebm_step(detector, optimizer, objective, inputs, None, labels).loss_2)
    return before, cosine(), losses_2


# ---------------------------------------------------------------- shared by several test modules
EBM_STEP_SMALL = ['output_size=32', 'linear_units=64', 'embedding_size=16', 'lr=0.001', 'batch_size=10',
                  'ratio_bona=0.2', 'ratio_spoof=0.8']
AASIST_L = os.path.join(FIXTURES, 'aasist', 'AASIST-L.pth')
AASIST_L_KEYS = ['aasist_channels=[32,32,24,24]', 'aasist_gat_dims=[24,32]', 'aasist_pool_ratios=[0.4,0.5,0.7]']
ONE_HEAD = ['backbone=aasist', 'loss_weight=[1.0]']
SSL_ARGS = ['backbone=ssl_bridge', 'ssl_checkpoint=tiny-random', 'ssl_num_hidden_states=4', 'ssl_hidden_size=32',
            'loss_weight=[1.0]']


def ebm_step_setup(extra=()):
    """(args, a small HM-Conformer detector, its Adam, the objective), seeded."""
    import torch
    from arguments import get_args
    from trainer.build import build_detector, build_objective
    args = get_args(EBM_STEP_SMALL + list(extra))[0]
    torch.manual_seed(0)
    detector = build_detector(args)
    optimizer = torch.optim.Adam(detector.parameters(), lr=args['lr'], weight_decay=args['weight_decay'])
    return args, detector, optimizer, build_objective(args)


def feature_batch(seed=0, rows=10, bona=2):
    """Two views of LFCC-shaped features (rows, 30 / 24, 120) and labels: `bona` bona fide first."""
    import torch
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor([1] * bona + [0] * (rows - bona))
    return torch.randn(rows, 30, 120, generator=generator), torch.randn(rows, 24, 120, generator=generator), labels


def python_files_outside_tests():
    for folder, _, names in os.walk(REPO):
        relative = os.path.relpath(folder, REPO)
        if relative.split(os.sep)[0] in ('tests', 'results', '.git', '.cache') or '/.' in folder:
            continue
        yield from (os.path.join(folder, name) for name in sorted(names) if name.endswith('.py'))


def tensorboard_scalars(run_dir: str) -> dict:
    """{tag: [(step, value), ...]} read back with TensorBoard's own event reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(os.path.join(run_dir, 'tensorboard'), size_guidance={'scalars': 0, 'images': 0})
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()['scalars']}


def local_metrics(run_dir: str) -> dict:
    """{name: [(step, value), ...]} from metrics/*.txt ('[step] name: value' lines)."""
    import glob
    metrics = {}
    for path in glob.glob(os.path.join(run_dir, 'metrics', '*.txt')):
        for line in open(path):
            step, rest = line[1:].split('] ', 1)
            name, value = rest.rsplit(': ', 1)
            metrics.setdefault(name, []).append((int(step), float(value)))
    return metrics
