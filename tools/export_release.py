"""Write what a paper publishes for one run: a release folder.

    python3 -m tools.export_release RUN_DIR --out DIR [--model selected|averaged]

DIR/model.safetensors  the selected (or averaged) model's weights (tensors only: loading it
                       cannot run code)
DIR/config.json        its configuration (secrets redacted) and, under "ebm_release", what it
                       decides with: epoch, decision threshold, Bayes threshold, calibration
DIR/README.md          a model card with Hugging Face metadata (pipeline, tags, EERs)
DIR/results.json       the run's results card
DIR/scores/            the score files of every set at that model (raw scores, LLRs, tables)

The folder is a Hugging Face model folder (`huggingface-cli upload USER/NAME DIR` publishes
it). `inference.Detector.from_pretrained(DIR)`, `python3 main.py TEST=True checkpoint=DIR`
and `python3 -m tools.infer --checkpoint DIR` read it.
"""
import argparse
import glob
import json
import os
import shutil
import sys

from safetensors.torch import save_file

from evaluation.results_card import CARD_JSON, CardError, metrics_table, read_card
from utils.atomic import WriteFailed, atomic_text, atomic_write
from utils.checkpoint_file import RELEASE_CONFIG, RELEASE_KEY, RELEASE_WEIGHTS, CheckpointError, load_checkpoint
from utils.output_paths import OutputPathError, check_output

DECISION_KEYS = ('epoch', 'threshold', 'bayes_threshold', 'calibration', 'select_on', 'averaged_epochs')


class ReleaseError(ValueError):
    """The release cannot be written; the message names what is missing."""


def _front_matter(card: dict, record: dict) -> str:
    """The model card's metadata block (YAML; every string written as JSON, which YAML reads)."""
    config = card['config']
    results = [f"      - task: {{type: audio-classification, name: audio deepfake detection}}\n"
               f"        dataset: {{type: {json.dumps(name)}, name: {json.dumps(name)}}}\n"
               f"        metrics:\n          - {{type: eer, name: EER (%), value: {metrics['eer']:.4f}}}"
               for name, metrics in record['sets'].items() if metrics.get('eer') is not None]
    return '\n'.join(['---', 'library_name: pytorch', 'pipeline_tag: audio-classification',
                      'tags: [audio-deepfake-detection, anti-spoofing, asvspoof, ebm, '
                      f"{json.dumps(config.get('backbone'))}]", 'metrics: [eer]', 'model-index:',
                      f"  - name: {json.dumps(config.get('name'))}", '    results:'] + results + ['---', ''])


def _model_card(card: dict, model: str, record: dict) -> str:
    config, selection = card['config'], card['selection']
    train = card['datasets'].get('train')
    trained_on = (f"ASVspoof 2019 LA train ({train['trials']} utterances: {train['bona']} bona fide, "
                  f"{train['spoof']} spoof; protocol SHA-256 {train['sha256'][:16]}...)") if train else 'see results.json'
    how = (f"epoch {record['epoch']}, {selection['rule']}" if model == 'selected' else
           f"the mean of the checkpoints of epochs {', '.join(map(str, record['epochs']))}")
    table = metrics_table({**card, 'selected': card['selected'] if model == 'selected' else None,
                           'averaged': card['averaged'] if model == 'averaged' else None})
    bayes = record.get('bayes_threshold')
    return _front_matter(card, record) + '\n'.join([
        f"# {config.get('name')}: EBM on {config.get('backbone')}", '',
        f"- trained on: {trained_on}",
        f"- model: {how}",
        f"- source: commit {card['git']['commit'] or 'unknown'}" + (' (with uncommitted changes)'
                                                                   if card['git']['dirty'] else ''),
        f"- decision threshold: {record['threshold']} (EER threshold of the development scores; score > "
        f"threshold is bona fide)" if record.get('threshold') is not None else '- decision threshold: none',
        (f"- Bayes threshold at P(spoof) = {bayes['p_spoof']}: LLR {bayes['llr']:.4f} (raw score "
         f"{bayes['score']:.6f})") if bayes else '- calibration: none',
        '', '## Metrics', '', table, '',
        'Higher scores mean more bona fide. Scores of every set are in scores/.', '',
        '## Use', '',
        '    from inference import Detector',
        '    detector = Detector.from_pretrained("THIS_FOLDER")',
        '    detector.decide("recording.wav")',
        '',
        '    python3 -m tools.infer --checkpoint THIS_FOLDER recording.wav',
        '    python3 main.py TEST=True checkpoint=THIS_FOLDER path_19LA=/data/ASVspoof2019', ''])


def export_release(run_dir: str, out: str, model: str = 'selected') -> str:
    card = read_card(run_dir)
    record = card.get(model)
    source = os.path.join(run_dir, 'models', f"{model}.pt")
    if not record or not os.path.isfile(source):
        raise ReleaseError(f"{run_dir} has no {model} model ({source}"
                           + (", set average_last to average" if model == 'averaged' else '') + ')')
    check_output(out, [run_dir], kind='folder')
    if os.path.isdir(out) and os.listdir(out):
        raise ReleaseError(f"{out} exists and is not empty: give a new folder")
    state = load_checkpoint(source)
    os.makedirs(os.path.join(out, 'scores'), exist_ok=True)
    weights = {name: tensor.contiguous() for name, tensor in state['model'].items()}
    atomic_write(os.path.join(out, RELEASE_WEIGHTS), lambda path: save_file(weights, path, metadata={'format': 'pt'}))
    decision = {key: state[key] for key in DECISION_KEYS if key in state}
    atomic_text(os.path.join(out, RELEASE_CONFIG), json.dumps({**state['args'], RELEASE_KEY: decision}, indent=2))
    shutil.copyfile(os.path.join(run_dir, CARD_JSON), os.path.join(out, CARD_JSON))
    label = f"epoch{record['epoch']}" if model == 'selected' else 'averaged'
    names = list(record['sets']) + ([record['dev']['name']] if record.get('dev') else [])
    for name in names:
        for path in glob.glob(os.path.join(run_dir, 'scores', f"{name}_{label}*")):
            shutil.copyfile(path, os.path.join(out, 'scores', os.path.basename(path)))
    atomic_text(os.path.join(out, 'README.md'), _model_card(card, model, record))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('run_dir')
    parser.add_argument('--out', required=True)
    parser.add_argument('--model', choices=('selected', 'averaged'), default='selected')
    options = parser.parse_args(argv)
    try:
        export_release(options.run_dir, options.out, options.model)
    except (CardError, CheckpointError, ReleaseError, OutputPathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (WriteFailed, OSError) as error:
        print(f"error: the release could not be written to {options.out}: {error}", file=sys.stderr)
        return 1
    print(f"release written to {options.out}: model.safetensors, config.json, results.json, scores/, README.md")
    return 0


if __name__ == '__main__':
    sys.exit(main())
