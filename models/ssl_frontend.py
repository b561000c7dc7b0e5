"""A wav2vec 2.0 front end giving every hidden state, built on torchaudio's model and
loaded from a Hugging Face model folder or a torchaudio bundle (no `transformers`).

`SSLFrontEnd`: wave (B, N) -> hidden states (B, L + 1, T, H), exactly as Hugging Face's
`Wav2Vec2Model(wave, output_hidden_states=True).hidden_states` stacks them: the first
is the transformer's input after the positional convolution (and, for post-norm models,
its layer norm), each next one a layer's output, and for pre-norm models (XLS-R) the
last one passes the final layer norm. The waveform is not normalised (the authors feed
it raw).
"""
import json
import os
from typing import Dict, Tuple

import torch
import torchaudio
from torch import nn

from utils.errors import BadInput
from utils.safe_load import UntrustedFile, torch_load


class SSLCheckpointError(BadInput, FileNotFoundError):
    """A wav2vec 2.0 checkpoint is missing or cannot be understood; the message says how to get one."""


HOW_TO_GET = ("get the weights with `huggingface-cli download facebook/wav2vec2-xls-r-300m --local-dir DIR` on a "
              "machine with internet and copy DIR here (config.json + model.safetensors or pytorch_model.bin), or "
              "name a torchaudio bundle such as WAV2VEC2_XLSR_300M (downloaded once, when online) or "
              "WAV2VEC2_XLSR_300M:/path/to/wav2vec2_xlsr_300m.pth (its file, offline)")


class SSLFrontEnd(nn.Module):
    """wave (B, N) -> (B, num_hidden_states, T, hidden_size), T = frames of 20 ms."""

    def __init__(self, model: torchaudio.models.Wav2Vec2Model):
        super().__init__()
        self.model = model

    @property
    def num_hidden_states(self) -> int:
        return len(self.model.encoder.transformer.layers) + 1

    @property
    def hidden_size(self) -> int:
        return self.model.encoder.feature_projection.projection.out_features

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        features, _ = self.model.feature_extractor(wave, None)
        x = self.model.encoder.feature_projection(features)
        transformer = self.model.encoder.transformer
        # torchaudio has no public call for the transformer's input (its private `_preprocess`
        # does this): + positional convolution, the layer norm when the layers are pre-norm
        # ("layer_norm_first"), dropout. Pinned by the Hugging Face equality test.
        x = x + transformer.pos_conv_embed(x)
        if transformer.layer_norm_first:
            x = transformer.layer_norm(x)
        x = transformer.dropout(x)
        states = [x]
        for layer in transformer.layers:
            x, _ = layer(x)
            states.append(x)
        if transformer.layer_norm_first:
            states[-1] = transformer.layer_norm(x)
        return torch.stack(states, dim=1)


def config_from_huggingface(config: dict) -> dict:
    """torchaudio `wav2vec2_model` arguments from a Hugging Face `config.json`."""
    for key in ('hidden_act', 'feat_extract_activation'):
        if config.get(key, 'gelu') != 'gelu':
            raise SSLCheckpointError(f"config.json: {key}={config[key]!r}; only gelu models are supported")
    return {
        'extractor_mode': f"{config['feat_extract_norm']}_norm",
        'extractor_conv_layer_config': list(zip(config['conv_dim'], config['conv_kernel'], config['conv_stride'])),
        'extractor_conv_bias': config['conv_bias'],
        'encoder_embed_dim': config['hidden_size'],
        'encoder_projection_dropout': config.get('feat_proj_dropout', 0.0),
        'encoder_pos_conv_kernel': config['num_conv_pos_embeddings'],
        'encoder_pos_conv_groups': config['num_conv_pos_embedding_groups'],
        'encoder_num_layers': config['num_hidden_layers'],
        'encoder_num_heads': config['num_attention_heads'],
        'encoder_attention_dropout': config.get('attention_dropout', 0.0),
        'encoder_ff_interm_features': config['intermediate_size'],
        'encoder_ff_interm_dropout': config.get('activation_dropout', 0.0),
        'encoder_dropout': config.get('hidden_dropout', 0.0),
        'encoder_layer_norm_first': config['do_stable_layer_norm'],
        'encoder_layer_drop': config.get('layerdrop', 0.0),
        'aux_num_out': None,
    }


_WEIGHT_NORM = {'weight_g': 'parametrizations.weight.original0', 'weight_v': 'parametrizations.weight.original1'}


def torchaudio_state(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Hugging Face (or older torchaudio) parameter names -> torchaudio 2.9's. Pre-training
    and CTC heads (quantizer, project_*, lm_head, masked_spec_embed) are dropped."""
    converted = {}
    for key, value in state.items():
        key = key[len('wav2vec2.'):] if key.startswith('wav2vec2.') else key
        if key.startswith(('quantizer.', 'project_', 'lm_head.', 'masked_spec_embed', 'aux.')):
            continue
        if key.startswith('feature_projection.'):
            key = 'encoder.' + key
        elif key.startswith('encoder.') and not key.startswith(('encoder.transformer.', 'encoder.feature_projection.')):
            key = 'encoder.transformer.' + key[len('encoder.'):]
        for old, new in _WEIGHT_NORM.items():
            if key.endswith('pos_conv_embed.conv.' + old):
                key = key[:-len(old)] + new
        converted[key] = value
    return converted


def _load_weights(path: str) -> Dict[str, torch.Tensor]:
    try:
        return torch_load(path)
    except UntrustedFile as error:
        raise SSLCheckpointError(str(error)) from None


def _read_huggingface_weights(folder: str) -> Dict[str, torch.Tensor]:
    safetensors, binary = os.path.join(folder, 'model.safetensors'), os.path.join(folder, 'pytorch_model.bin')
    if os.path.isfile(safetensors):
        from safetensors.torch import load_file
        return load_file(safetensors)
    if os.path.isfile(binary):
        return _load_weights(binary)
    raise SSLCheckpointError(f"{folder} holds config.json but neither model.safetensors nor pytorch_model.bin; "
                             f"{HOW_TO_GET}")


def _build(config: dict, state: Dict[str, torch.Tensor], source: str) -> SSLFrontEnd:
    model = torchaudio.models.wav2vec2_model(**config)
    missing, unexpected = model.load_state_dict(torchaudio_state(state), strict=False)
    if missing or unexpected:
        raise SSLCheckpointError(f"{source}: the weights do not fit a wav2vec 2.0 model of its configuration: "
                                 f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return SSLFrontEnd(model)


def _bundle(name: str):
    bundle = getattr(torchaudio.pipelines, name, None)
    if not isinstance(bundle, torchaudio.pipelines.Wav2Vec2Bundle):
        raise SSLCheckpointError(f"{name!r} is neither a folder nor a torchaudio wav2vec 2.0 bundle; {HOW_TO_GET}")
    return bundle


def _bundle_config(bundle) -> dict:
    """The `wav2vec2_model` arguments of a bundle. torchaudio exposes them only as the private
    `_params` (no public call gives a bundle's architecture without downloading its weights);
    tests/test_ssl_bridge.py pins what is read here."""
    return dict(bundle._params)


def tiny_random_config() -> dict:
    """A wav2vec 2.0 of XLS-R's form, 3 layers of width 32: for demos and tests."""
    return {'extractor_mode': 'layer_norm', 'extractor_conv_layer_config': [(16, 10, 5)] + [(16, 3, 2)] * 4
            + [(16, 2, 2)] * 2, 'extractor_conv_bias': True, 'encoder_embed_dim': 32,
            'encoder_projection_dropout': 0.0, 'encoder_pos_conv_kernel': 16, 'encoder_pos_conv_groups': 4,
            'encoder_num_layers': 3, 'encoder_num_heads': 2, 'encoder_attention_dropout': 0.0,
            'encoder_ff_interm_features': 48, 'encoder_ff_interm_dropout': 0.0, 'encoder_dropout': 0.0,
            'encoder_layer_norm_first': True, 'encoder_layer_drop': 0.0, 'aux_num_out': None}


TINY_RANDOM = 'tiny-random'
RANDOM = 'random:'  # 'random:WAV2VEC2_XLSR_300M': a bundle's architecture with random weights, nothing downloaded


def _seeded_random(config: dict) -> SSLFrontEnd:
    """A wav2vec 2.0 of `config` with weights drawn from seed 0; the global generator is left as it was."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        return SSLFrontEnd(torchaudio.models.wav2vec2_model(**config))
    finally:
        torch.random.set_rng_state(generator_state)


def load_ssl_frontend(path: str) -> SSLFrontEnd:
    """A Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin,
    any wav2vec 2.0 size), a torchaudio bundle name (its weights are downloaded once by
    torchaudio, which needs a connection), `BUNDLE:FILE` (the bundle's configuration and
    its weight file on disk), 'tiny-random' (a small random model built in process,
    seeded, for the CPU demo and tests) or 'random:BUNDLE' (the bundle's architecture with
    seeded random weights, for benchmarks). Anything else raises SSLCheckpointError saying
    how to get the weights."""
    if path == TINY_RANDOM:
        return _seeded_random(tiny_random_config())
    if path.startswith(RANDOM):
        return _seeded_random(_bundle_config(_bundle(path[len(RANDOM):])))
    if os.path.isdir(path):
        config_path = os.path.join(path, 'config.json')
        if not os.path.isfile(config_path):
            raise SSLCheckpointError(f"{path} has no config.json; {HOW_TO_GET}")
        with open(config_path, encoding='utf-8') as handle:
            config = config_from_huggingface(json.load(handle))
        return _build(config, _read_huggingface_weights(path), path)
    name, _, weights = path.partition(':')
    if weights:
        bundle = _bundle(name)
        if not os.path.isfile(weights):
            raise SSLCheckpointError(f"weight file {weights} of bundle {name} not found; {HOW_TO_GET}")
        return _build(_bundle_config(bundle), _load_weights(weights), path)
    if os.path.sep in path or not path:
        raise SSLCheckpointError(f"SSL checkpoint {path!r} not found; {HOW_TO_GET}")
    bundle = _bundle(name)
    try:
        model = bundle.get_model()
    except OSError as error:
        raise SSLCheckpointError(f"could not fetch torchaudio bundle {name} ({error}); {HOW_TO_GET}") from None
    # XLS-R bundles wrap the model in a layer norm of the input waveform; the authors feed the raw waveform
    return SSLFrontEnd(next(m for m in model.modules() if isinstance(m, torchaudio.models.Wav2Vec2Model)))


def ssl_shape(path: str) -> Tuple[int, int]:
    """(hidden states, width) the checkpoint at `path` gives, read without loading its
    weights; raises SSLCheckpointError when the checkpoint is missing or incomplete."""
    if path == TINY_RANDOM:
        config = tiny_random_config()
    elif path.startswith(RANDOM):
        config = _bundle_config(_bundle(path[len(RANDOM):]))
    elif os.path.isdir(path):
        config_path = os.path.join(path, 'config.json')
        if not os.path.isfile(config_path):
            raise SSLCheckpointError(f"{path} has no config.json; {HOW_TO_GET}")
        if not any(os.path.isfile(os.path.join(path, name)) for name in ('model.safetensors', 'pytorch_model.bin')):
            raise SSLCheckpointError(f"{path} holds config.json but neither model.safetensors nor "
                                     f"pytorch_model.bin; {HOW_TO_GET}")
        with open(config_path, encoding='utf-8') as handle:
            config = config_from_huggingface(json.load(handle))
    else:
        name, _, weights = path.partition(':')
        if os.path.sep in name or not name:
            raise SSLCheckpointError(f"SSL checkpoint {path!r} not found; {HOW_TO_GET}")
        config = _bundle_config(_bundle(name))
        if weights and not os.path.isfile(weights):
            raise SSLCheckpointError(f"weight file {weights} of bundle {name} not found; {HOW_TO_GET}")
    return config['encoder_num_layers'] + 1, config['encoder_embed_dim']
