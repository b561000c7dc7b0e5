"""EBM against a cepstral baseline on recorded human speech vs. real synthesisers.

    python3 -m benchmarks.real_speech_corpus /tmp/real_speech            # once (Debian packages)
    python3 -m benchmarks.bench_real_speech baseline /tmp/real_speech    # MFCC baselines
    python3 -m benchmarks.bench_real_speech ebm /tmp/real_speech [key=value ...]
    python3 -m benchmarks.bench_real_speech report /tmp/real_speech SCORE_FILE

`baseline` fits two classic countermeasures on the train split and scores eval:
a logistic regression on the mean and standard deviation of 20 MFCCs per utterance,
and a two-class GMM (32 diagonal Gaussians per class) on MFCC + delta frames. `ebm`
trains this repository's detector (main.py with the shortened schedule below and any
overrides) and reports its last evaluation. Every report gives the EER on all of eval,
on the attacks seen in training (A01-A03) and on the unseen ones (A07-A09), each
against all bona fide eval utterances.
"""
import glob
import os
import subprocess
import sys
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf
import torch
import torchaudio
from scipy import optimize
from scipy.special import logsumexp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from data.protocol import read_asvspoof2019
from evaluation.metrics import compute_eer

SEEN, UNSEEN = ('A01', 'A02', 'A03'), ('A07', 'A08', 'A09')

# A small corpus and a CPU: 12 epochs instead of 150, training views of 2 s and 1.5 s
# instead of 4 s and 3 s (the published 4 s test crop is kept), a raised learning rate
# with its cosine over the run, evaluation every 4 epochs, 4 + 16 rows per batch.
# Everything else (model, losses, augmentation) is the published configuration.
EBM_SETTINGS = ['name=real_speech', 'tags=[bench]', 'path_21LA=None', 'path_21DF=None', 'epoch=12',
                'eval_from_epoch=4', 'eval_every=4', 'batch_size=20', 'ratio_bona=0.2', 'ratio_spoof=0.8',
                'num_train_frames=204', 'num_train_frames_short=154', 'lr=0.0003', 'lr_min=0.00001',
                'T_0=12', 'num_workers=2', 'use_vocoder_copies=False']


def grouped_eers(scores: Dict[str, float], trials) -> Dict[str, float]:
    """EER (percent) on all of eval, on the seen and on the unseen attacks, and per attack."""
    bona = np.array([scores[t.utt_id] for t in trials if t.label == 1])

    def eer(attacks) -> float:
        spoof = np.array([scores[t.utt_id] for t in trials if t.label == 0 and t.attack in attacks])
        return 100 * compute_eer(bona, spoof)[0]

    attacks = sorted({t.attack for t in trials if t.label == 0})
    result = {'all': eer(attacks), 'seen': eer(SEEN), 'unseen': eer(UNSEEN)}
    result.update({attack: eer((attack,)) for attack in attacks})
    return result


def print_eers(title: str, eers: Dict[str, float]) -> None:
    print(f"{title:<28}" + '  '.join(f"{k} {v:5.1f}" for k, v in eers.items()), flush=True)


# ---------------------------------------------------------------- MFCC baselines
_MFCC = torchaudio.transforms.MFCC(16_000, n_mfcc=20, melkwargs={'n_fft': 512, 'hop_length': 160,
                                                                  'win_length': 400, 'n_mels': 40})


def mfcc_frames(path: str) -> np.ndarray:
    """(frames, 40): 20 MFCCs and their deltas, the 70 % of frames with most energy (c0)."""
    wave, _ = sf.read(path, dtype='float32')
    c = _MFCC(torch.from_numpy(wave)).T
    d = torchaudio.functional.compute_deltas(c.T).T
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


def baseline(corpus: str) -> None:
    train, test = read_asvspoof2019(corpus, 'train'), read_asvspoof2019(corpus, 'eval')
    print(f"MFCC features of {len(train)} train and {len(test)} eval utterances ...", flush=True)
    train_frames = [mfcc_frames(t.path) for t in train]
    test_frames = [mfcc_frames(t.path) for t in test]

    def stats(frames_list):
        return np.array([np.concatenate([f[:, :20].mean(0), f[:, :20].std(0)]) for f in frames_list])

    x_train, x_test = stats(train_frames), stats(test_frames)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-9
    y = np.array([t.label for t in train], dtype=float)
    w, b = logistic_regression((x_train - mean) / std, y)
    scores = (x_test - mean) / std @ w + b
    print_eers('MFCC stats + logistic reg.', grouped_eers({t.utt_id: s for t, s in zip(test, scores)}, test))

    rng = np.random.default_rng(0)
    bona = np.concatenate([f for f, t in zip(train_frames, train) if t.label == 1])
    spoof = np.concatenate([f for f, t in zip(train_frames, train) if t.label == 0])
    f_mean, f_std = bona.mean(0), bona.std(0) + 1e-9
    models = [fit_gmm((data - f_mean) / f_std, 32, rng) for data in (bona, spoof)]
    llr = [gmm_loglik((f - f_mean) / f_std, models[0]) - gmm_loglik((f - f_mean) / f_std, models[1])
           for f in test_frames]
    print_eers('MFCC+delta GMM (32, LLR)', grouped_eers({t.utt_id: s for t, s in zip(test, llr)}, test))


# ---------------------------------------------------------------- EBM
def read_scores(path: str) -> Dict[str, float]:
    scores = {}
    with open(path) as handle:
        for line in handle:
            fields = line.split()
            scores[fields[0]] = float(fields[-1])
    return scores


def report(corpus: str, score_file: str) -> None:
    test = read_asvspoof2019(corpus, 'eval')
    print_eers(os.path.basename(score_file), grouped_eers(read_scores(score_file), test))


def ebm(corpus: str, overrides: List[str]) -> None:
    path_log = os.path.join(REPO, 'results')
    command = [sys.executable, os.path.join(REPO, 'main.py'), f'path_19LA={corpus}', f'path_log={path_log}',
               *EBM_SETTINGS, *overrides]
    print(' '.join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    name = next((o.split('=', 1)[1] for o in reversed(overrides) if o.startswith('name=')), 'real_speech')
    run_dir = os.path.join(path_log, 'EBM', 'bench', name)
    for score_file in sorted(glob.glob(os.path.join(run_dir, 'scores', '19LA_epoch*.txt')),
                             key=lambda p: int(p.rsplit('epoch', 1)[1][:-4])):
        report(corpus, score_file)


def main(argv: List[str]) -> int:
    if len(argv) < 2 or argv[0] not in ('baseline', 'ebm', 'report'):
        print(__doc__)
        return 2
    if argv[0] == 'baseline':
        baseline(argv[1])
    elif argv[0] == 'ebm':
        ebm(argv[1], argv[2:])
    else:
        report(argv[1], argv[2])
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
