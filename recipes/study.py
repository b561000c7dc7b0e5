"""EBM against cepstral baselines on recorded human speech vs. real synthesisers, on either
benchmark corpus (full band: recipes/real_speech/corpus.py; telephone band:
recipes/telephone/corpus.py):

    python3 -m recipes.study baseline CORPUS [--features mfcc|lfcc]   # cepstral baselines
    python3 -m recipes.study ebm CORPUS [key=value ...]   # one EBM run
    python3 -m recipes.study report CORPUS EVAL_SCORES [DEV_SCORES]
    python3 -m recipes.study ablation CORPUS [--rows a,b] [--seeds 1,2] [key=value ...]
    python3 -m recipes.study finetune CORPUS [--release AASIST-L.pth] [--seeds 1] [key=value ...]

`baseline` fits two classic countermeasures on the train split: a logistic regression on the
mean and standard deviation of 20 MFCCs per utterance, and a two-class GMM (32 diagonal
Gaussians per class) on MFCC + delta frames; `--features lfcc` fits both on the detector's own
LFCC front end instead (models/lfcc.py, the authors' full band, 20 coefficients), which tells
the front end's share of a gap from the network's. `ebm` trains this repository's detector
(main.py with the shortened schedule below and any overrides) and reports its last
evaluation. `ablation` runs each row of ROWS (one change from that schedule) with each seed,
resumably, and writes the table to results/EBM/bench/ablation_<corpus>.md and .csv. Every
report gives the EER (percent) on dev; on all of eval; on the attacks seen in training and on
those never seen, each against all bona fide eval utterances; and on the bona fide utterances
of speakers never heard in training against all eval spoofs. The groups are read from the
protocols (speaker column, attacks of the train split). `finetune` compares AASIST-L's released
weights (or a release of this project) zero-shot, EBM-trained from scratch, and EBM fine-tuned
from them (init_from).
"""
import csv
import glob
import os
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf
import torch
import torchaudio
from scipy import optimize
from scipy.special import logsumexp

from data.protocol import protocol_2019_path, read_asvspoof2019
from evaluation.metrics import compute_eer
from models.lfcc import LFCC
from recipes.presets import SMALL_DATA_SCHEDULE
from utils.run_folder import evaluation_run_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'results')
DOCS_RESULTS = os.path.join(REPO, 'docs', 'results')   # what the docs link: written here, never typed

# A small corpus and a CPU: the short-corpus schedule of recipe=small_data (recipes/presets.py:
# 12 epochs instead of 150, training views of 2 s and 1.5 s instead of 4 s and 3 s, the published
# 4 s test crop kept, a raised learning rate with its cosine over the run, evaluation every 4
# epochs, 4 + 16 rows per batch) without its measured band: everything else (model, losses,
# augmentation, the full-band LFCC) is the published configuration.
EBM_SETTINGS = ['name=real_speech', 'tags=[bench]', 'path_21LA=None', 'path_21DF=None', *SMALL_DATA_SCHEDULE,
                'num_workers=2', 'use_vocoder_copies=False']

# The ablation: each row one change from EBM_SETTINGS (docs/method.md section 13).
AUGMENTATION_OFF = ['codec_p=0', 'rawboost=False', 'colored_noise_p=0', 'speed_factors=[1.0]', 'mask_p=0']
ROWS: Dict[str, List[str]] = {
    'published': [],
    'no_codec': ['codec_p=0'],
    'no_rawboost': ['rawboost=False'],
    'no_coloured_noise': ['colored_noise_p=0'],
    'no_speed': ['speed_factors=[1.0]'],
    'no_masking': ['mask_p=0'],
    'no_augmentation': AUGMENTATION_OFF,
    'lfcc_signal_band': ['lfcc_f_min=150', 'lfcc_f_max=3400'],
    'test_crop_2s': ['num_test_frames=204'],
    'train_crops_4s_3s': ['num_train_frames=404', 'num_train_frames_short=303'],
    'twice_the_steps': ['epoch=24', 'T_0=24', 'eval_from_epoch=8', 'eval_every=8'],
    'lr_1e-4': ['lr=0.0001'],
    'lr_1e-3': ['lr=0.001'],
    'half_width_3_blocks': ['output_size=64', 'linear_units=128', 'num_blocks=3', 'downsample_layer=[0,1]'],
    'more_dropout': ['dropout_rate=0.5', 'embd_dropout_rate=0.7', 'encoder_dropout_rate=0.3'],
    'joint_centroid': ['centroid_update=joint'],
    'no_bpl': ['use_bpl=False'],
    'small_data': ['recipe=small_data'],      # the preset: the same schedule and the band measured from the data
}


def speakers_and_attacks(corpus: str, split: str) -> Dict[str, Tuple[str, str]]:
    """utterance id -> (first protocol column: the speaker of a bona fide row, attack)."""
    rows = {}
    with open(protocol_2019_path(corpus, split)) as handle:
        for line in handle:
            fields = line.split()
            if fields:
                rows[fields[1]] = (fields[0], fields[-2])
    return rows


class Groups:
    """Which eval utterances are seen / unseen attacks and new bona fide speakers, from the protocols."""

    def __init__(self, corpus: str):
        train = speakers_and_attacks(corpus, 'train')
        seen_speakers = {speaker for speaker, attack in train.values() if attack in ('-', 'bonafide')}
        self.seen = sorted({attack for _, attack in train.values() if attack not in ('-', 'bonafide')})
        self.trials = {split: read_asvspoof2019(corpus, split) for split in ('dev', 'eval')}
        evaluation = speakers_and_attacks(corpus, 'eval')
        self.unseen = sorted({t.attack for t in self.trials['eval'] if t.label == 0} - set(self.seen))
        self.new_speakers = {t.utt_id for t in self.trials['eval'] if t.label == 1
                             and evaluation[t.utt_id][0] not in seen_speakers}

    def eers(self, eval_scores: Dict[str, float], dev_scores: Optional[Dict[str, float]] = None) -> Dict[str, float]:
        def eer(trials, bona_filter, spoof_filter) -> float:
            bona = np.array([scores[t.utt_id] for t in trials if t.label == 1 and bona_filter(t)])
            spoof = np.array([scores[t.utt_id] for t in trials if t.label == 0 and spoof_filter(t)])
            return 100 * compute_eer(bona, spoof)[0] if len(bona) and len(spoof) else float('nan')

        result = {}
        if dev_scores is not None:
            scores = dev_scores
            result['dev'] = eer(self.trials['dev'], lambda t: True, lambda t: True)
        scores, trials = eval_scores, self.trials['eval']
        result['eval'] = eer(trials, lambda t: True, lambda t: True)
        result['seen'] = eer(trials, lambda t: True, lambda t: t.attack in self.seen)
        result['unseen'] = eer(trials, lambda t: True, lambda t: t.attack in self.unseen)
        result['new speakers'] = eer(trials, lambda t: t.utt_id in self.new_speakers, lambda t: True)
        return result


def print_eers(title: str, eers: Dict[str, float]) -> None:
    print(f"{title:<30}" + '  '.join(f"{k} {v:5.1f}" for k, v in eers.items()), flush=True)


# ---------------------------------------------------------------- cepstral baselines
_MFCC = torchaudio.transforms.MFCC(16_000, n_mfcc=20, melkwargs={'n_fft': 512, 'hop_length': 160,
                                                                  'win_length': 400, 'n_mels': 40})
_LFCC = LFCC(16_000, n_lfcc=20)


def cepstral_frames(path: str, features: str = 'mfcc') -> np.ndarray:
    """(frames, 40): 20 cepstral coefficients (MFCC, or the detector's LFCC with its log
    energy in c0) and their deltas, the 70 % of frames with most energy (c0)."""
    wave, _ = sf.read(path, dtype='float32')
    if features == 'mfcc':
        c = _MFCC(torch.from_numpy(wave)).T
        d = torchaudio.functional.compute_deltas(c.T).T
    else:
        c, d = _LFCC(torch.from_numpy(wave)[None])[0, :, :40].split(20, dim=1)
    frames = torch.cat([c, d], dim=1).numpy()
    energy = c[:, 0].numpy()
    return frames[energy >= np.percentile(energy, 30)]


def logistic_regression(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> Tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression by L-BFGS: returns (w, b)."""
    weights = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        sign = 2 * y - 1
        value = np.sum(weights * np.logaddexp(0, -sign * z)) / len(y) + l2 * w @ w
        grad_z = -weights * sign / (1 + np.exp(sign * z)) / len(y)
        return value, np.append(x.T @ grad_z + 2 * l2 * w, grad_z.sum())

    theta = optimize.minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method='L-BFGS-B').x
    return theta[:-1], theta[-1]


def fit_gmm(x: np.ndarray, components: int, rng: np.random.Generator, iterations: int = 30):
    """Diagonal-covariance GMM by EM: (log weights, means, variances)."""
    means = x[rng.choice(len(x), components, replace=False)]
    variances = np.tile(x.var(axis=0), (components, 1))
    log_weights = np.full(components, -np.log(components))
    for _ in range(iterations):
        log_resp = gmm_component_loglik(x, log_weights, means, variances)
        log_resp -= logsumexp(log_resp, axis=1, keepdims=True)
        resp = np.exp(log_resp)
        mass = resp.sum(axis=0) + 1e-9
        means = resp.T @ x / mass[:, None]
        variances = np.maximum(resp.T @ (x ** 2) / mass[:, None] - means ** 2, 1e-3 * x.var(axis=0))
        log_weights = np.log(mass / mass.sum())
    return log_weights, means, variances


def gmm_component_loglik(x, log_weights, means, variances) -> np.ndarray:
    """(frames, components) log w_k + log N(x | mu_k, diag var_k)."""
    precision = 1 / variances
    quadratic = (x ** 2) @ precision.T - 2 * x @ (means * precision).T + np.sum(means ** 2 * precision, axis=1)
    return log_weights - 0.5 * (quadratic + np.sum(np.log(2 * np.pi * variances), axis=1))


def gmm_loglik(x, model) -> float:
    return float(np.mean(logsumexp(gmm_component_loglik(x, *model), axis=1)))


def baseline(corpus: str, features: str = 'mfcc') -> Dict[str, Dict[str, float]]:
    groups = Groups(corpus)
    train = read_asvspoof2019(corpus, 'train')
    sets = {'train': train, **groups.trials}
    print(f"{features.upper()} features of {', '.join(f'{len(t)} {n}' for n, t in sets.items())} utterances ...",
          flush=True)
    frames = {name: [cepstral_frames(t.path, features) for t in trials] for name, trials in sets.items()}

    def stats(frames_list):
        return np.array([np.concatenate([f[:, :20].mean(0), f[:, :20].std(0)]) for f in frames_list])

    x_train = stats(frames['train'])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-9
    w, b = logistic_regression((x_train - mean) / std, np.array([t.label for t in train], dtype=float))
    scores = {name: {t.utt_id: s for t, s in zip(sets[name], (stats(frames[name]) - mean) / std @ w + b)}
              for name in ('dev', 'eval')}
    name = features.upper()
    results = {f'{name} mean/std + logistic reg.': groups.eers(scores['eval'], scores['dev'])}

    rng = np.random.default_rng(0)
    bona = np.concatenate([f for f, t in zip(frames['train'], train) if t.label == 1])
    spoof = np.concatenate([f for f, t in zip(frames['train'], train) if t.label == 0])
    f_mean, f_std = bona.mean(0), bona.std(0) + 1e-9
    models = [fit_gmm((data - f_mean) / f_std, 32, rng) for data in (bona, spoof)]
    llr = {name: {t.utt_id: gmm_loglik((f - f_mean) / f_std, models[0]) - gmm_loglik((f - f_mean) / f_std, models[1])
                  for t, f in zip(sets[name], frames[name])} for name in ('dev', 'eval')}
    results[f'{name}+delta GMM, 32 Gaussians'] = groups.eers(llr['eval'], llr['dev'])
    for title, eers in results.items():
        print_eers(title, eers)
    columns = list(next(iter(results.values())))
    publish(f"{os.path.basename(os.path.normpath(corpus))}_baselines_{features}",
            f"baseline {corpus} --features {features}",
            ['| system | ' + ' | '.join(columns) + ' |', '| --- |' + ' --- |' * len(columns)]
            + [f"| {title} | " + ' | '.join(f"{eers[c]:.1f}" for c in columns) + ' |' for title, eers in results.items()])
    return results


def publish(name: str, command: str, lines: List[str]) -> None:
    """docs/results/<name>.md: the table under the command that measured it (EER %)."""
    os.makedirs(DOCS_RESULTS, exist_ok=True)
    path = os.path.join(DOCS_RESULTS, f"{name}.md")
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(f"EER % (`python3 -m recipes.study {command}`; mean (seed / seed) where runs have "
                     f"several seeds)\n\n" + '\n'.join(lines) + '\n')
    print(f"written: {path}", flush=True)


# ---------------------------------------------------------------- EBM
def read_scores(path: str) -> Dict[str, float]:
    scores = {}
    with open(path) as handle:
        for line in handle:
            fields = line.split()
            scores[fields[0]] = float(fields[-1])
    return scores


def report(corpus: str, eval_scores: str, dev_scores: Optional[str] = None) -> Dict[str, float]:
    eers = Groups(corpus).eers(read_scores(eval_scores), read_scores(dev_scores) if dev_scores else None)
    print_eers(os.path.basename(eval_scores), eers)
    return eers


def _run_dir(name: str) -> str:
    return os.path.join(RESULTS, 'EBM', 'bench', name)


def _epochs(run_dir: str) -> List[int]:
    """The epochs with a 19LA eval score file (`19LA_epoch<N>.txt`; not the _llr files)."""
    names = (os.path.basename(path)[len('19LA_epoch'):-len('.txt')]
             for path in glob.glob(os.path.join(run_dir, 'scores', '19LA_epoch*.txt')))
    return sorted(int(name) for name in names if name.isdigit())


def run_ebm(corpus: str, overrides: List[str]) -> str:
    """Train and evaluate with main.py; returns the run folder (path_log=results/)."""
    command = [sys.executable, os.path.join(REPO, 'main.py'), f'path_19LA={corpus}', f'path_log={RESULTS}',
               *EBM_SETTINGS, *overrides]
    print(' '.join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    name = next((o.split('=', 1)[1] for o in reversed(overrides) if o.startswith('name=')), 'real_speech')
    return _run_dir(name)


def run_eers(corpus: str, run_dir: str, epoch: Optional[int] = None) -> Dict[str, float]:
    """The groups' EERs of a run at `epoch` (its last evaluation by default)."""
    epoch = epoch or _epochs(run_dir)[-1]
    scores = os.path.join(run_dir, 'scores')
    return report(corpus, os.path.join(scores, f'19LA_epoch{epoch}.txt'),
                  os.path.join(scores, f'19LA_dev_epoch{epoch}.txt'))


def ebm(corpus: str, overrides: List[str]) -> None:
    run_dir = run_ebm(corpus, overrides)
    for epoch in _epochs(run_dir):
        run_eers(corpus, run_dir, epoch)


def _finished(run_dir: str, overrides: List[str]) -> bool:
    epochs = next((int(o.split('=', 1)[1]) for o in reversed(EBM_SETTINGS + overrides) if o.startswith('epoch=')))
    return bool(_epochs(run_dir)) and _epochs(run_dir)[-1] == epochs


def ablation(corpus: str, rows: List[str], seeds: List[int], common: List[str]) -> None:
    """Every row with every seed (runs already finished are read, not repeated), then the table."""
    tag = os.path.basename(os.path.normpath(corpus))
    table = []
    for row in rows:
        for seed in seeds:
            overrides = [*ROWS[row], *common, f'rand_seed={seed}', f'name={tag}_{row}_seed{seed}', 'resume=auto']
            run_dir = _run_dir(f'{tag}_{row}_seed{seed}')
            if not _finished(run_dir, overrides):
                run_ebm(corpus, overrides)
            table.append({'row': row, 'seed': seed, **run_eers(corpus, run_dir)})
    lines = write_table(table, os.path.join(RESULTS, 'EBM', 'bench', f'ablation_{tag}'))
    publish(f"{tag}_ablation_{'_'.join(rows)}", f"ablation {corpus} --rows {','.join(rows)} "
            f"--seeds {','.join(map(str, seeds))}" + ''.join(f' {item}' for item in common), lines)


# AASIST-L, the smaller of the two AASIST releases (clovaai/aasist models/weights/AASIST-L.pth)
AASIST_L = ['backbone=aasist', 'aasist_channels=[32,32,24,24]', 'aasist_gat_dims=[24,32]',
            'aasist_pool_ratios=[0.4,0.5,0.7]']


def finetune(corpus: str, release: str, seeds: List[int], common: List[str]) -> None:
    """A released model on the corpus three ways: zero-shot, trained from scratch with EBM, and
    fine-tuned with EBM from the release (init_from: its weights, a fresh optimiser), the last two
    on the same schedule. `release` is AASIST's released .pth (imported as AASIST-L and scored
    zero-shot with its own logit, as their code scores) or a checkpoint or release folder of this
    project (its model keys given in `common`). Writes the table."""
    tag = os.path.basename(os.path.normpath(corpus))
    model, zero_shot_keys, label = [], [], os.path.basename(os.path.normpath(release))
    if release.endswith('.pth'):
        model, zero_shot_keys = AASIST_L, ['aasist_score=logit']
        imported = os.path.join(RESULTS, 'EBM', 'bench', f'{tag}_aasist_l_release.pt')
        os.makedirs(os.path.dirname(imported), exist_ok=True)
        if not os.path.isfile(imported):
            subprocess.run([sys.executable, '-m', 'tools.import_release', '--release', release, '--out', imported,
                            *AASIST_L], check=True, cwd=REPO)
        release = imported
    stem = f"{tag}_finetune_{label.replace('.', '_')}"
    zero_shot = _run_dir(evaluation_run_name(release))     # where TEST=True writes
    if not _epochs(zero_shot):
        run_ebm(corpus, [*model, *zero_shot_keys, 'TEST=True', f'checkpoint={release}', *common])
    table = [{'row': 'release, zero-shot', 'seed': 0, **run_eers(corpus, zero_shot)}]
    for row, extra in (('EBM from scratch', []), ('EBM fine-tuned from the release', [f'init_from={release}'])):
        for seed in seeds:
            name = f"{stem}_{'finetuned' if extra else 'scratch'}_seed{seed}"
            overrides = [*model, *extra, *common, f'rand_seed={seed}', f'name={name}', 'resume=auto']
            if not _finished(_run_dir(name), overrides):
                run_ebm(corpus, overrides)
            table.append({'row': row, 'seed': seed, **run_eers(corpus, _run_dir(name))})
    lines = write_table(table, os.path.join(RESULTS, 'EBM', 'bench', stem))
    publish(stem, f"finetune {corpus} --release {label} --seeds {','.join(map(str, seeds))}"
            + ''.join(f' {item}' for item in common), lines)


def write_table(table: List[dict], stem: str) -> List[str]:
    """Markdown (mean and each seed per row) and CSV (one line per run); returns the markdown lines."""
    columns = [key for key in table[0] if key not in ('row', 'seed')]
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    with open(stem + '.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, ['row', 'seed', *columns])
        writer.writeheader()
        writer.writerows(table)
    lines = ['| row | ' + ' | '.join(columns) + ' |', '| --- |' + ' --- |' * len(columns)]
    for row in dict.fromkeys(entry['row'] for entry in table):
        runs = [entry for entry in table if entry['row'] == row]
        cells = [f"{np.mean([r[c] for r in runs]):.1f} ({' / '.join(f'{r[c]:.1f}' for r in runs)})" for c in columns]
        lines.append(f"| {row} | " + ' | '.join(cells) + ' |')
    with open(stem + '.md', 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    print('\n'.join(lines), flush=True)
    print(f"written: {stem}.md, {stem}.csv", flush=True)
    return lines


def _option(argv: List[str], name: str, default: str) -> Tuple[str, List[str]]:
    if name in argv:
        index = argv.index(name)
        return argv[index + 1], argv[:index] + argv[index + 2:]
    return default, argv


def main(argv: List[str]) -> int:
    if len(argv) < 2 or argv[0] not in ('baseline', 'ebm', 'report', 'ablation', 'finetune'):
        print(__doc__)
        return 2
    command, corpus, rest = argv[0], argv[1], argv[2:]
    if command == 'baseline':
        features, rest = _option(rest, '--features', 'mfcc')
        if features not in ('mfcc', 'lfcc'):
            print(f"--features must be mfcc or lfcc, got {features!r}")
            return 2
        baseline(corpus, features)
    elif command == 'ebm':
        ebm(corpus, rest)
    elif command == 'report':
        report(corpus, *rest[:2])
    elif command == 'finetune':
        release, rest = _option(rest, '--release', os.path.join(REPO, 'tests', 'fixtures', 'aasist', 'AASIST-L.pth'))
        seeds, rest = _option(rest, '--seeds', '1')
        finetune(corpus, release, [int(s) for s in seeds.split(',')], rest)
    else:
        rows, rest = _option(rest, '--rows', ','.join(ROWS))
        seeds, rest = _option(rest, '--seeds', '1,2')
        unknown = [row for row in rows.split(',') if row not in ROWS]
        if unknown:
            print(f"unknown rows {unknown}; the rows are {', '.join(ROWS)}")
            return 2
        ablation(corpus, rows.split(','), [int(s) for s in seeds.split(',')], rest)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
