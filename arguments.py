"""Experiment configuration: edit the values here, or override any key on the
command line (`python3 main.py epoch=3 batch_size=8 path_19LA=/mnt/asv`).

Each key is declared once, here, with everything the program knows of it
(`utils.config.Key`): its default and its rule (what it accepts, checked with the rules
relating several keys, `check_combinations`, before anything starts), and where it applies
whether a resume may change it (`resumable`), whether it is a secret (`secret`), where it is
read when no part's parameter is named after it (`read_by`) and whether it names weights that
only initialise a model (`initialises`). Defaults reproduce the published EBM setup on
HM-Conformer (docs/method.md); `loss_weight` None is one weight per head of the chosen
backbone, and a recipe brings its settings (recipes/presets.py). `get_args` returns
`(args, system_args, experiment_args)` like the authors' code: two plain dicts of values and
their merge.
"""
import os
from typing import Sequence, Tuple

from data.manifest import set_name
from data.sets import CALIBRATION_SETS, EVAL_SETS, TRAINING_SETS
from models.registry import BACKBONES, backbone_names, get_backbone, shortest_input
from recipes.presets import recipe_names, recipe_settings
from utils.config import (Bool, Choice, ConfigError, Int, Ints, Key, Number, Numbers, Registered, Schema, Text, Texts,
                          apply_overrides, defaults, keys_where, last_override, require, validate)

SYSTEM = {
    # experiment information
    'project'           : Key('EBM', Text(non_empty=True), resumable=True),  # Neptune project name / first folder level under path_log
    'name'              : Key('HM-Conformer_EBM', Text(non_empty=True), resumable=True, per_run=True),  # run name / last folder level under path_log
    'tags'              : Key(['EBM'], Texts(), resumable=True),  # Neptune tags; joined by '_' as the middle folder level
    'description'       : Key('', Text(), resumable=True),  # free text stored with the run
    'recipe'            : Key(None, Choice(None, *recipe_names()), resumable=True),  # a preset applied before the other settings: 'small_data' (recipes/presets.py)

    # logging
    'path_log'          : Key('/results', Text(), resumable=True),  # root folder of the local logger
    'neptune_user'      : Key('', Text(optional=True), resumable=True),  # Neptune workspace; '' reads NEPTUNE_PROJECT or disables Neptune
    'neptune_token'     : Key('', Text(optional=True), resumable=True, secret=True),  # Neptune API token; '' reads NEPTUNE_API_TOKEN
    'neptune_timeout'   : Key(10.0, Number('positive'), resumable=True),  # seconds to wait for Neptune to start a run, then go on without it
    'tensorboard'       : Key(False, Bool(), resumable=True),  # event files in <run folder>/tensorboard (tensorboard --logdir path_log)
    'wandb_project'     : Key('', Text(optional=True), resumable=True),  # W&B project; '' disables W&B (the API key: WANDB_API_KEY only)
    'wandb_entity'      : Key('', Text(optional=True), resumable=True),  # W&B team or user; '' is the key's default entity
    'wandb_mode'        : Key('online', Choice('online', 'offline', 'disabled'), resumable=True),  # offline: files under <run folder>/wandb
    'wandb_timeout'     : Key(30.0, Number('positive'), resumable=True),  # seconds W&B may take to start (and to finish uploading)

    # datasets: a set is an ASVspoof name, read under its root below, or the path of a manifest
    # (CSV/TSV: path,label[,speaker,attack,...]) or of a folder of bonafide/ and spoof/ (docs/data.md)
    'train_set'         : Key('19LA', Text(non_empty=True), resumable=True),  # '19LA', 'ASV5' or a manifest / folder (its rows are fingerprinted for resume)
    'eval_sets'         : Key(None, Texts(optional=True), resumable=True),  # None: every ASVspoof set whose root is set; or a list of names (19LA,21LA,21DF,ITW,ASV5dev,ASV5eval) and paths
    'path_19LA'         : Key('/data/ASVspoof2019', Text(optional=True), resumable=True),  # ASVspoof 2019 root (holds LA/)
    'path_21LA'         : Key('/data/ASVspoof2021_LA_eval', Text(optional=True), resumable=True),  # ASVspoof 2021 LA eval root (flac/, keys/)
    'path_21DF'         : Key('/data/ASVspoof2021_DF', Text(optional=True), resumable=True),  # ASVspoof 2021 DF root (ASVspoof2021_DF_eval/, keys/)
    'use_vocoder_copies': Key(True, Bool()),                # add the HiFi-GAN copies of spoof train utterances when present
    'path_ITW'          : Key(None, Text(optional=True), resumable=True),  # In-the-Wild release folder (meta.csv, *.wav); None skips it
    'path_ASV5'         : Key(None, Text(optional=True), resumable=True),  # ASVspoof 5 root (ASVspoof5_protocols/, flac_D/, flac_E_eval/)
    'calibration_set'   : Key('19LA_dev', Text(optional=True), resumable=True),  # the development set (calibration, threshold; selection with select_on=dev): '19LA_dev', 'ASV5dev', a manifest / folder, or None
    'preflight_decode'  : Key(False, Bool(), resumable=True),  # the pre-flight decodes every audio file whole, not only its header

    # processes
    'num_workers'       : Key(4, Int(0), resumable=True),   # data-loader workers per process
    'pin_memory'        : Key(False, Bool(), resumable=True),  # page-locked training batches (faster copies to a GPU)
    'prefetch_factor'   : Key(None, Int(1, optional=True), resumable=True),  # batches each worker loads ahead; None: PyTorch's 2
    'persistent_workers': Key(False, Bool(), resumable=True),  # keep workers between epochs (the draws stay the same)
    'codec_cache'       : Key(None, Text(optional=True), resumable=True),  # folder for the codecs' encoded bytes (same outputs, encodes once)
    'compile'           : Key(False, Bool(), resumable=True),  # torch.compile the detector's forward (the first steps compile)
    'compile_backend'   : Key('inductor', Text(), resumable=True),  # a torch.compiler.list_backends() name ('aot_eager' traces only)
    'usable_gpu'        : Key(None, Text(optional=True), resumable=True),  # e.g. '0,1'; None uses CUDA_VISIBLE_DEVICES as set
    'world_size'        : Key(1, Int(1)),                   # processes to spawn when no GPU is present (CPU, gloo)
    'collective_timeout': Key(300, Int(1), resumable=True),  # seconds a process waits in a collective before the group stops
    'cudnn_deterministic': Key(True, Bool()),               # the authors' cuDNN flags (deterministic, no benchmark); False is faster

    # run control
    'TEST'              : Key(False, Bool(), resumable=True),  # evaluate `checkpoint` without training
    'checkpoint'        : Key(None, Text(optional=True), resumable=True),  # model checkpoint to evaluate when TEST is True
    'trust_checkpoint'  : Key(False, Bool(), resumable=True),  # True: load checkpoints fully, code included (only files you trust)
    'resume'            : Key(None, Text(optional=True), resumable=True, per_run=True),  # checkpoint path to resume from, or 'auto' for this run's last
    'resume_override'   : Key([], Texts(), resumable=True),  # keys (or train_protocol) a resume may change, e.g. lr,batch_size
    'eval_from_epoch'   : Key(15, Int(1), resumable=True),  # first epoch with an evaluation
    'eval_every'        : Key(5, Int(1), resumable=True),   # evaluate every this many epochs from eval_from_epoch

    # model selection and reporting (what is kept and reported; training is unchanged)
    'select_on'         : Key('19LA_dev', Choice('19LA_dev', 'ASV5dev', 'dev', None), resumable=True),  # set whose EER picks models/selected.pt: 'dev' is calibration_set's; None: the last evaluation
    'average_last'      : Key(0, Int(0), resumable=True),   # average the last N evaluated checkpoints at the end and report them; 0: off (authors)
}

EXPERIMENT = {
    # schedule and sampling
    'epoch'             : Key(150, Int(1), resumable=True, read_by='trainer/trainer.py'),  # training epochs
    'batch_size'        : Key(40, Int(1), read_by='trainer/build.py'),  # global batch (divided by the world size under DDP)
    'rand_seed'         : Key(1, Int(0, maximum=2 ** 32 - 1), read_by='trainer/trainer.py', per_run=True),  # seed of every random generator
    'ratio_bona'        : Key(0.1, Number('fraction'), read_by='trainer/build.py'),  # share of bona fide rows per batch (4 of 40)
    'ratio_spoof'       : Key(0.9, Number('fraction'), read_by='trainer/build.py'),  # share of spoof rows per batch (36 of 40)
    'amp'               : Key('fp32', Choice('fp32', 'bf16')),  # DEVIATION:bf16-autocast: 'bf16' forwards in bfloat16 autocast (authors: fp32)

    # crops (samples = frames * hop - 40)
    'num_train_frames'      : Key(404, Int(1), read_by='trainer/build.py'),  # long training view: 64,600 samples
    'num_train_frames_short': Key(303, Int(1), read_by='trainer/build.py'),  # short training view: 48,440 samples
    'num_test_frames'       : Key(404, Int(1), resumable=True, read_by='trainer/trainer.py'),  # evaluation crop from the start: 64,600 samples

    # LFCC front end
    'sample_rate'       : Key(16000, Int(1)),               # audio sample rate in Hz (reading, codecs, RawBoost, noise, LFCC)
    'n_lfcc'            : Key(40, Int(1)),                  # linear filters and cepstral coefficients
    'coef'              : Key(0.97, Number('probability')),  # pre-emphasis coefficient
    'n_fft'             : Key(512, Int(1)),                 # FFT size
    'win_length'        : Key(320, Int(1)),                 # Hamming window length in samples
    'hop'               : Key(160, Int(1), read_by='trainer/build.py'),  # hop length in samples
    'lfcc_f_min'        : Key(0.0, Number('non-negative')),  # lowest filter edge in Hz (authors: 0)
    'lfcc_f_max'        : Key(None, Number('positive', optional=True)),  # highest edge in Hz; None: sample_rate / 2 (authors)
    'lfcc_band'         : Key('full', Choice('full', 'auto'), read_by='trainer/launch.py'),  # DEVIATION:lfcc-band-from-data: 'auto' sets lfcc_f_min / lfcc_f_max to the band the training audio occupies (authors: 'full')
    'mask_p'            : Key(1.0, Number('probability')),  # probability of masking a training batch
    'mask_max'          : Key(20, Int(0)),                  # widest mask
    'mask_axis'         : Key('time', Choice('time', 'coefficient')),  # 'time' (authors' quirk: masks frames) or 'coefficient'

    # per-item augmentation (data workers)
    'codec_p'           : Key(0.8, Number('probability'), read_by='trainer/build.py'),  # probability of a codec round trip per view
    'codec_crop_factor' : Key(1.2, Number('positive')),     # codec applied to the first factor * crop samples
    'codec_opus'        : Key(False, Bool()),               # add Opus to the codec draw (not in the authors' mix)
    'codec_aac_coder'   : Key('twoloop', Choice('twoloop', 'fast')),  # DEVIATION:aac-fast-coder: 'fast' is 2.4-6x faster, cleaner (authors: FFmpeg's twoloop)
    'g711_round_trip'   : Key(False, Bool()),               # True: real A/mu-law round trip; False: authors' curve only
    'rawboost'          : Key(True, Bool(), read_by='trainer/build.py'),  # RawBoost choice 0..8 per view
    'rawboost_device'   : Key('cpu', Choice('cpu', 'cuda'), read_by='trainer/build.py'),  # DEVIATION:device-rawboost: 'cuda' runs it batched on the training device (authors: per item, 'cpu')

    # batch augmentation (training device)
    'colored_noise_p'   : Key(1.0, Number('probability')),  # probability of coloured noise per example
    'snr_min'           : Key(10.0, Number('non-negative')),  # coloured-noise SNR range in dB
    'snr_max'           : Key(40.0, Number('non-negative')),
    'f_decay_min'       : Key(-2.0, Number()),              # spectral decay exponent range (0 white, 1 pink, 2 brown)
    'f_decay_max'       : Key(2.0, Number()),
    'speed_factors'     : Key([0.9, 1.1, 1.0], Numbers('positive')),  # one speed factor drawn per batch

    # backbone, a name in models/registry.py: 'hm_conformer' (LFCC + HM-Conformer, five heads), 'ssl_bridge'
    # (frozen wav2vec 2.0 + the authors' bridge, one head) or 'aasist' (AASIST on the waveform, one head)
    'backbone'          : Key('hm_conformer', Registered(backbone_names), read_by='models/registry.py'),

    # fine-tuning: start from another run's weights (not its optimiser or schedule, unlike `resume`)
    'init_from'         : Key(None, Text(optional=True), resumable=True, read_by='trainer/trainer.py'),  # a checkpoint, release folder or imported release whose model weights start training
    'init_train'        : Key('all', Choice('all', 'last_block', 'heads'), read_by='trainer/build.py'),  # what trains: all, or only the backbone's last block and heads, or only its heads

    # ssl_bridge
    'ssl_checkpoint'    : Key(None, Text(optional=True), resumable=True),  # HF folder, torchaudio bundle (NAME or NAME:FILE) or 'tiny-random'
    'ssl_num_hidden_states': Key(None, Int(2, optional=True)),  # None: from the checkpoint (25 for XLS-R 300M); set: checked
    'ssl_hidden_size'   : Key(None, Int(1, optional=True)),  # None: from the checkpoint (1024 for XLS-R 300M); set: checked
    'ssl_freeze_until_epoch': Key(150, Int(0)),             # front end frozen while epoch <= this (the authors' T_0)
    'ssl_bf16'          : Key(True, Bool()),                # frozen front end in bfloat16 autocast on GPU
    'agg_size'          : Key(128, Int(1)),                 # bridge width
    'bridge_embedding_size': Key(160, Int(1)),              # bridge embedding size (the authors' output_size)

    # aasist: AASIST's published configuration (AASIST-L: aasist_channels=[32,32,24,24] aasist_gat_dims=[24,32]
    # aasist_pool_ratios=[0.4,0.5,0.7])
    'aasist_checkpoint' : Key(None, Text(optional=True), resumable=True, initialises=True),  # their released .pth (AASIST.pth, AASIST-L.pth) to start from
    'aasist_channels'   : Key([32, 32, 64, 64], Ints()),    # output channels of residual blocks 1-4 (5 and 6 repeat the 4th)
    'aasist_gat_dims'   : Key([64, 32], Ints()),            # graph attention / heterogeneous graph widths (embedding 5 x 2nd)
    'aasist_pool_ratios': Key([0.5, 0.7, 0.5], Numbers('fraction')),  # nodes kept: spectral, temporal, heterogeneous pooling
    'aasist_temperatures': Key([2.0, 2.0, 100.0], Numbers('positive')),  # attention temperatures, in the same order
    'aasist_sinc_filters': Key(70, Int(3)),                 # sinc band-pass filters (spectral nodes: a third of them)
    'aasist_first_conv' : Key(128, Int(1)),                 # sinc filter length (made odd: 129)
    'aasist_score'      : Key('cosine', Choice('cosine', 'logit')),  # 'cosine' (EBM) or 'logit': AASIST's own output, for TEST
    'aasist_freq_aug'   : Key(False, Bool()),               # AASIST's masking of sinc filters in training (off as theirs)

    # HM-Conformer (its input size is 3 x n_lfcc)
    'output_size'       : Key(128, Int(1)),                 # model width d
    'attention_heads'   : Key(4, Int(1)),                   # heads of the relative-position attention
    'linear_units'      : Key(256, Int(1)),                 # feed-forward hidden size
    'num_blocks'        : Key(6, Int(1)),                   # Conformer blocks
    'cnn_module_kernel' : Key(15, Int(1)),                  # depthwise convolution kernel
    'downsample_layer'  : Key([1, 3], Ints()),              # blocks followed by max-pooling (and a CLS output)
    'pooling_size'      : Key(2, Int(1)),                   # max-pooling kernel and stride
    'encoder_dropout_rate': Key(0.1, Number('dropout')),    # encoder dropout (the authors' code leaves it at this default)
    'dropout_rate'      : Key(0.35, Number('dropout')),     # dropout before the aggregation layer
    'embd_dropout_rate' : Key(0.5, Number('dropout')),      # dropout on each level embedding
    'embedding_size'    : Key(64, Int(1)),                  # head embedding size

    # losses
    'r_real'            : Key(0.9, Number('cosine')),       # EOC-S bona fide margin
    'r_fake'            : Key(0.2, Number('cosine')),       # EOC-S spoof margin
    'alpha'             : Key(20.0, Number('positive')),    # EOC-S scale
    'alpha_cl'          : Key(30.0, Number('positive')),    # BPL scale beta_1
    'loss_weight'       : Key(None, Numbers('non-negative', optional=True)),  # weight of each head's loss; None: 1.0 per head of the backbone (five: the authors')
    'use_class_weight'  : Key(True, Bool(), read_by='trainer/build.py'),  # weight EOC-S rows by the inverse sampling ratio
    'use_bpl'           : Key(True, Bool()),                # add the bona fide pair loss
    'centroid_update'   : Key('adam_step', Choice('adam_step', 'joint')),  # 'adam_step' (EBM two-step) or 'joint' (plain OC-Softmax)
    'loss_scope'        : Key('process', Choice('process', 'global')),  # DEVIATION:global-batch-loss: 'global' gathers all processes' rows into the losses (authors: each process its own)

    # optimiser and scheduler
    'lr'                : Key(1e-6, Number('positive'), read_by='trainer/build.py'),  # Adam learning rate
    'lr_min'            : Key(1e-6, Number('non-negative'), read_by='trainer/build.py'),  # eta_min of the cosine schedule
    'weight_decay'      : Key(1e-4, Number('non-negative'), read_by='trainer/build.py'),  # Adam weight decay
    'T_0'               : Key(150, Int(1), read_by='trainer/build.py'),  # epochs of the first cosine cycle
    'T_mult'            : Key(1, Int(1), read_by='trainer/build.py'),  # cycle growth factor
}


def check_combinations(args: dict) -> None:
    """The rules that relate several keys; each error names the key to change."""
    total = args['ratio_bona'] + args['ratio_spoof']
    require(total <= 1 + 1e-9, 'ratio_spoof', f"ratio_bona + ratio_spoof = {total} must be <= 1", args['ratio_spoof'])
    bona = int(args['batch_size'] * args['ratio_bona'])
    require(bona >= 2, 'batch_size', f"int(batch_size * ratio_bona) = {bona}: the bona fide pair loss needs at "
            f"least 2 bona fide rows", args['batch_size'])
    spoof = int(args['batch_size'] * args['ratio_spoof'])
    require(spoof >= 1, 'batch_size', f"int(batch_size * ratio_spoof) = {spoof}: need at least 1 spoof row",
            args['batch_size'])
    require(args['r_fake'] < args['r_real'], 'r_fake', f"must be < r_real ({args['r_real']})", args['r_fake'])
    require(args['snr_min'] <= args['snr_max'], 'snr_min', f"must be <= snr_max ({args['snr_max']})", args['snr_min'])
    require(args['f_decay_min'] <= args['f_decay_max'], 'f_decay_min', f"must be <= f_decay_max "
            f"({args['f_decay_max']})", args['f_decay_min'])
    backbone = get_backbone(args['backbone'])
    backbone.check(args)
    shortest = shortest_input(args)
    for key in ('num_train_frames', 'num_train_frames_short', 'num_test_frames'):
        # a training crop shrinks by the fastest speed factor before the model sees it
        factor = max(args['speed_factors']) if key != 'num_test_frames' else 1.0
        seen = int((args[key] * args['hop'] - 40) / factor)
        require(seen >= shortest, key, f"the crop the {args['backbone']} backbone sees is {seen} samples, below "
                f"its shortest, {backbone.min_frames} frames ({shortest} samples)"
                + (f" after the speed factor {factor}" if factor > 1 else ''), args[key])
    require(args['lfcc_band'] == 'full' or 'lfcc_f_min' in backbone.keys(), 'lfcc_band',
            f"backbone={args['backbone']} has no LFCC front end to set the band of", args['lfcc_band'])
    require(args['lfcc_band'] == 'full' or (args['lfcc_f_min'] == 0.0 and args['lfcc_f_max'] is None), 'lfcc_band',
            "'auto' measures lfcc_f_min and lfcc_f_max from the training audio: leave them unset (or set them "
            "and lfcc_band=full)", args['lfcc_band'])
    heads = backbone.num_heads(args)
    weights = str([1.0] * heads).replace(' ', '')
    require(len(args['loss_weight']) == heads, 'loss_weight', f"must have one weight per head: {heads} with "
            f"backbone={args['backbone']} (e.g. loss_weight={weights})", args['loss_weight'])
    require(not args['TEST'] or bool(args['checkpoint']), 'checkpoint', 'TEST=True needs checkpoint=PATH',
            args['checkpoint'])
    _check_sets(args)
    require(args['TEST'] or args['select_on'] != '19LA_dev' or args['calibration_set'] == '19LA_dev', 'select_on',
            'selecting on 19LA dev needs it scored at each evaluation: calibration_set=19LA_dev (with another '
            'development set: select_on=dev; or select_on=None)', args['select_on'])
    require(args['select_on'] != 'dev' or args['calibration_set'] is not None, 'select_on',
            "'dev' selects on the development set: set calibration_set (or select_on=None)", args['select_on'])
    require(args['init_train'] == 'all' or bool(args['init_from']), 'init_train',
            'freezes part of a model started from init_from=PATH: set init_from (or init_train=all)',
            args['init_train'])
    require(not (args['init_from'] and args['aasist_checkpoint']), 'init_from',
            f"and aasist_checkpoint={args['aasist_checkpoint']!r} both name starting weights: keep one", args['init_from'])
    require(args['rawboost'] or args['rawboost_device'] == 'cpu', 'rawboost_device',
            'moves RawBoost to the training device, but rawboost=False turns it off', args['rawboost_device'])
    unknown = sorted(set(args['resume_override']) - set(args) - {'train_protocol'})
    verb = 'is not a key' if len(unknown) == 1 else 'are not keys'
    if unknown:   # named as typed, resume_override=a,b
        raise ConfigError(f"resume_override={','.join(args['resume_override'])}: {', '.join(unknown)} {verb} (nor "
                          f"train_protocol, the training rows)")
    require(args['select_on'] != 'ASV5dev' or args['path_ASV5'] is not None, 'select_on',
            'selecting on the ASVspoof 5 dev set needs path_ASV5 (or select_on=None)', args['select_on'])


# The ASVspoof names each set key takes, with the root key each reads under (data/sets.py).
SET_NAMES = {key: {name: spec.key for name, spec in sets.items()}
             for key, sets in (('train_set', TRAINING_SETS), ('calibration_set', CALIBRATION_SETS),
                               ('eval_sets', EVAL_SETS))}


def _check_sets(args: dict) -> None:
    """Each set an ASVspoof name whose root is set, or a manifest / folder that exists."""
    given = [('calibration_set', args['calibration_set'])] + [('eval_sets', value) for value in args['eval_sets'] or []]
    if not args['TEST']:
        given.insert(0, ('train_set', args['train_set']))
    for key, value in given:
        if value is None:
            continue
        names = SET_NAMES[key]
        if value in names:
            require(args[names[value]] is not None, key, f"the {value} set is read under {names[value]}: set it",
                    value)
        else:
            require(os.path.exists(value), key, f"neither an ASVspoof name ({', '.join(names)}) nor an existing "
                    f"manifest file or folder", value)
    # reports, metric and score files are named after the sets: no two may share a name
    calibration = args['calibration_set']
    named = [] if calibration is None else [(calibration if calibration in SET_NAMES['calibration_set']
                                             else set_name(calibration), 'calibration_set', calibration)]
    named += [(value if value in SET_NAMES['eval_sets'] else set_name(value), 'eval_sets', value)
              for value in args['eval_sets'] or []]
    for index, (name, key, value) in enumerate(named):
        clash = next((other for other in named[:index] if other[0] == name), None)
        require(clash is None, key, f"reports as {name!r}, as {clash[1]}={clash[2]!r} does: every set needs its "
                f"own name (a manifest's file name, a folder's name)" if clash else '', value)


# Keys that were removed, with what took their place (a saved command line names them).
RETIRED = {
    'bin_size': 'the HM-Conformer input size is derived from the LFCC front end, 3 x n_lfcc; set n_lfcc',
}


def declared() -> Schema:
    """Every key's declaration."""
    return {**SYSTEM, **EXPERIMENT}


def resumable_keys() -> frozenset:
    return keys_where(declared(), 'resumable')


def secret_keys() -> frozenset:
    return keys_where(declared(), 'secret')


def keys_read_by_name() -> frozenset:
    return keys_where(declared(), 'read_by')


def initialising_keys() -> frozenset:
    return keys_where(declared(), 'initialises')


def per_run_keys() -> frozenset:
    return keys_where(declared(), 'per_run')


def get_args(overrides: Sequence[str] = ()) -> Tuple[dict, dict, dict]:
    """The configuration: arguments.py's values, then a recipe's settings (recipe=NAME, here or
    on the command line), then the command line's `key=value` overrides, the later winning; a
    key left to its backbone (loss_weight None: one weight per head) gets the backbone's value."""
    rules = {key: entry.rule for key, entry in declared().items()}
    recipe = last_override(overrides, 'recipe', SYSTEM['recipe'].default)
    recipe = None if recipe in ('None', 'none', '') else recipe
    if recipe is not None and recipe not in recipe_names():
        raise ConfigError(f"recipe={recipe!r}: must be one of {', '.join(recipe_names())}")
    system_args, experiment_args = apply_overrides(defaults(SYSTEM), defaults(EXPERIMENT),
                                                   [*recipe_settings(recipe), *overrides], rules, RETIRED)
    backbone = BACKBONES.get(experiment_args['backbone'])      # an unknown name: its rule names it below
    if experiment_args['loss_weight'] is None and backbone is not None:
        # the backbone's own default: one weight of 1.0 per head (five for HM-Conformer, one for AASIST)
        experiment_args['loss_weight'] = [1.0] * backbone.num_heads(experiment_args)
    args = {**system_args, **experiment_args}
    validate(args, declared(), check_combinations)
    return args, system_args, experiment_args
