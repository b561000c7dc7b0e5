"""Experiment configuration: edit the values here, or override any key on the
command line (`python3 main.py epoch=3 batch_size=8 path_19LA=/mnt/asv`).

Defaults reproduce the published EBM setup on HM-Conformer (see SPEC sections 3-12).
`get_args` returns `(args, system_args, experiment_args)` like the authors' code:
two plain dicts and their merge.
"""
from typing import Sequence, Tuple

from utils.config import apply_overrides, validate_args


def get_args(overrides: Sequence[str] = ()) -> Tuple[dict, dict, dict]:
    system_args = {
        # experiment information
        'project'           : 'EBM',                # Neptune project name / first folder level under path_log
        'name'              : 'HM-Conformer_EBM',   # run name / last folder level under path_log
        'tags'              : ['EBM'],              # Neptune tags; joined by '_' as the middle folder level
        'description'       : '',                   # free text stored with the run

        # logging
        'path_log'          : '/results',           # root folder of the local logger
        'neptune_user'      : '',                   # Neptune workspace; '' reads NEPTUNE_PROJECT or disables Neptune
        'neptune_token'     : '',                   # Neptune API token; '' reads NEPTUNE_API_TOKEN

        # datasets (set a test path to None to skip that set)
        'path_19LA'         : '/data/ASVspoof2019',         # ASVspoof 2019 root (holds LA/)
        'path_21LA'         : '/data/ASVspoof2021_LA_eval', # ASVspoof 2021 LA eval root (flac/, keys/)
        'path_21DF'         : '/data/ASVspoof2021_DF',      # ASVspoof 2021 DF root (ASVspoof2021_DF_eval/, keys/)
        'use_vocoder_copies': True,                 # add the HiFi-GAN copies of spoof train utterances when present

        # processes
        'num_workers'       : 4,                    # data-loader workers per process
        'usable_gpu'        : None,                 # e.g. '0,1'; None uses CUDA_VISIBLE_DEVICES as set
        'world_size'        : 1,                    # processes to spawn when no GPU is present (CPU, gloo)
        'cudnn_deterministic': True,                # the authors' cuDNN flags (deterministic, no benchmark); False is faster

        # run control
        'TEST'              : False,                # evaluate `checkpoint` without training
        'checkpoint'        : None,                 # model checkpoint to evaluate when TEST is True
        'resume'            : None,                 # checkpoint path to resume from, or 'auto' for this run's last
        'eval_from_epoch'   : 15,                   # first epoch with an evaluation
        'eval_every'        : 5,                    # evaluate every this many epochs from eval_from_epoch
    }

    experiment_args = {
        # schedule and sampling
        'epoch'             : 150,                  # training epochs
        'batch_size'        : 40,                   # global batch (divided by the world size under DDP)
        'rand_seed'         : 1,                    # seed of every random generator
        'ratio_bona'        : 0.1,                  # share of bona fide rows per batch (4 of 40)
        'ratio_spoof'       : 0.9,                  # share of spoof rows per batch (36 of 40)

        # crops (samples = frames * 160 - 40)
        'num_train_frames'      : 404,              # long training view: 64,600 samples
        'num_train_frames_short': 303,              # short training view: 48,440 samples
        'num_test_frames'       : 404,              # evaluation crop from the start: 64,600 samples

        # LFCC front end (SPEC section 7)
        'sample_rate'       : 16000,                # audio sample rate in Hz
        'n_lfcc'            : 40,                   # linear filters and cepstral coefficients
        'coef'              : 0.97,                 # pre-emphasis coefficient
        'n_fft'             : 512,                  # FFT size
        'win_length'        : 320,                  # Hamming window length in samples
        'hop'               : 160,                  # hop length in samples
        'mask_p'            : 1.0,                  # probability of masking a training batch
        'mask_max'          : 20,                   # widest mask
        'mask_axis'         : 'time',               # 'time' (authors' quirk: masks frames) or 'coefficient'

        # per-item augmentation (data workers)
        'codec_p'           : 0.8,                  # probability of a codec round trip per view
        'codec_crop_factor' : 1.2,                  # codec applied to the first factor * crop samples
        'codec_opus'        : False,                # add Opus to the codec draw (not in the authors' mix)
        'g711_round_trip'   : False,                # True: real A/mu-law round trip; False: authors' curve only
        'rawboost'          : True,                 # RawBoost choice 0..8 per view

        # batch augmentation (training device)
        'colored_noise_p'   : 1.0,                  # probability of coloured noise per example
        'snr_min'           : 10.0,                 # coloured-noise SNR range in dB
        'snr_max'           : 40.0,
        'f_decay_min'       : -2.0,                 # spectral decay exponent range (0 white, 1 pink, 2 brown)
        'f_decay_max'       : 2.0,
        'speed_factors'     : [0.9, 1.1, 1.0],      # one speed factor drawn per batch

        # HM-Conformer (SPEC section 8)
        'bin_size'          : 120,                  # input feature size (LFCC + deltas)
        'output_size'       : 128,                  # model width d
        'attention_heads'   : 4,                    # heads of the relative-position attention
        'linear_units'      : 256,                  # feed-forward hidden size
        'num_blocks'        : 6,                    # Conformer blocks
        'cnn_module_kernel' : 15,                   # depthwise convolution kernel
        'downsample_layer'  : [1, 3],               # blocks followed by max-pooling (and a CLS output)
        'pooling_size'      : 2,                    # max-pooling kernel and stride
        'encoder_dropout_rate': 0.1,                # encoder dropout (the authors' code leaves it at this default)
        'dropout_rate'      : 0.35,                 # dropout before the aggregation layer
        'embd_dropout_rate' : 0.5,                  # dropout on each level embedding
        'embedding_size'    : 64,                   # head embedding size

        # losses (SPEC section 9)
        'r_real'            : 0.9,                  # EOC-S bona fide margin
        'r_fake'            : 0.2,                  # EOC-S spoof margin
        'alpha'             : 20.0,                 # EOC-S scale
        'alpha_cl'          : 30.0,                 # BPL scale beta_1
        'loss_weight'       : [1.0, 1.0, 1.0, 1.0, 1.0],  # weight of each head's loss
        'use_class_weight'  : True,                 # weight EOC-S rows by the inverse sampling ratio
        'use_bpl'           : True,                 # add the bona fide pair loss
        'centroid_update'   : 'adam_step',          # 'adam_step' (EBM two-step) or 'joint' (plain OC-Softmax)

        # optimiser and scheduler
        'lr'                : 1e-6,                 # Adam learning rate
        'lr_min'            : 1e-6,                 # eta_min of the cosine schedule
        'weight_decay'      : 1e-4,                 # Adam weight decay
        'T_0'               : 150,                  # epochs of the first cosine cycle
        'T_mult'            : 1,                    # cycle growth factor
    }

    system_args, experiment_args = apply_overrides(system_args, experiment_args, overrides)
    args = {**system_args, **experiment_args}
    validate_args(args)
    return args, system_args, experiment_args
