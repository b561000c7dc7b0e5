"""The second backbone: a wav2vec 2.0 front end equal to Hugging Face's, the authors'
bridge classifier, their saved classifiers, the frozen front end, and learning."""
import os

import pytest
import torch

from arguments import get_args
from models.bridge import AttentiveStatsPooling, ClassifierLoadError, build_bridge_detector, load_ebm_classifier
from models.ssl_frontend import SSLCheckpointError, load_ssl_frontend, ssl_shape, torchaudio_state
from tests.helpers import FIXTURES, SSL_ARGS, two_step_learning
from trainer.build import build_detector, build_objective

TINY = os.path.join(FIXTURES, 'wav2vec2_tiny')


@pytest.mark.parametrize('variant', ['stable', 'base'])
def test_hidden_states_equal_hugging_face(variant):
    """stable: XLS-R's form, model.safetensors; base: post-norm, pytorch_model.bin with weight_g/v."""
    frontend = load_ssl_frontend(os.path.join(TINY, variant)).eval()
    expected = torch.load(os.path.join(TINY, f'{variant}_hidden_states.pt'))
    with torch.no_grad():
        states = frontend(torch.load(os.path.join(TINY, 'wave.pt')))
    assert states.shape == expected.shape == (2, 4, 24, 32)
    assert torch.allclose(states, expected, atol=1e-4)
    assert (frontend.num_hidden_states, frontend.hidden_size) == ssl_shape(os.path.join(TINY, variant)) == (4, 32)


def test_missing_checkpoints_say_how_to_get_the_weights(tmp_path):
    for path in (str(tmp_path / 'nowhere'), str(tmp_path)):
        with pytest.raises(SSLCheckpointError, match='huggingface-cli download facebook/wav2vec2-xls-r-300m'):
            ssl_shape(path)
    (tmp_path / 'config.json').write_text('{}')
    with pytest.raises(SSLCheckpointError, match='neither model.safetensors nor pytorch_model.bin'):
        ssl_shape(str(tmp_path))
    with pytest.raises(SSLCheckpointError, match="'NOT_A_BUNDLE' is neither a folder nor a torchaudio"):
        ssl_shape('NOT_A_BUNDLE')
    with pytest.raises(SSLCheckpointError, match='weight file /no/file.pth of bundle WAV2VEC2_XLSR_300M'):
        ssl_shape('WAV2VEC2_XLSR_300M:/no/file.pth')
    assert ssl_shape('WAV2VEC2_XLSR_300M') == (25, 1024)


def test_the_bridge_takes_its_input_shape_from_the_front_end():
    """ssl_num_hidden_states / ssl_hidden_size are derived from the checkpoint unless set; set, they are checked."""
    detector = build_detector(get_args(['backbone=ssl_bridge', 'ssl_checkpoint=tiny-random', 'loss_weight=[1.0]'])[0])
    assert len(detector.classifier.bridge_module.squeeze_module_linears) == 4
    assert detector.classifier.bridge_module.squeeze_module_linears[0].w_1.in_features == 32
    from utils.config import ConfigError
    with pytest.raises(ConfigError, match='tiny-random gives 4 hidden states of width 32; set ssl_num_hidden_states=4'):
        build_detector(get_args(SSL_ARGS + ['ssl_num_hidden_states=25'])[0])


def test_a_bundle_model_is_used_without_its_input_normalisation(monkeypatch):
    """Pins the torchaudio bundle path: `get_model()` wraps XLS-R in a layer norm of the input
    waveform; the front end takes the wav2vec 2.0 model inside (the authors feed the raw
    waveform), and the bundle's architecture comes from its private `_params`."""
    import torchaudio
    from torchaudio.pipelines._wav2vec2.utils import _extend_model
    from models.ssl_frontend import _bundle_config, tiny_random_config
    bundle = torchaudio.pipelines.WAV2VEC2_XLSR_300M
    config = _bundle_config(bundle)
    assert (config['encoder_num_layers'], config['encoder_embed_dim'], config['encoder_layer_norm_first']) == \
        (24, 1024, True)
    torch.manual_seed(0)
    inner = torchaudio.models.wav2vec2_model(**tiny_random_config()).eval()
    monkeypatch.setattr(type(bundle), 'get_model', lambda self, dl_kwargs=None: _extend_model(inner, True, False, False))
    frontend = load_ssl_frontend('WAV2VEC2_XLSR_300M').eval()
    assert frontend.model is inner
    wave = 3.0 * torch.randn(1, 8000)
    with torch.no_grad():
        layers = inner.extract_features(wave)[0]   # the outputs of layers 1..3 on the raw waveform
        states = frontend(wave)
    assert torch.allclose(states[:, 1], layers[0], atol=1e-5) and torch.allclose(states[:, 2], layers[1], atol=1e-5)


def test_pretraining_heads_and_prefixes_are_mapped():
    state = {'wav2vec2.encoder.layers.0.attention.q_proj.weight': 1, 'wav2vec2.feature_projection.projection.bias': 2,
             'wav2vec2.encoder.pos_conv_embed.conv.weight_g': 3, 'quantizer.codevectors': 4, 'project_q.weight': 5,
             'wav2vec2.masked_spec_embed': 6}
    assert torchaudio_state(state) == {
        'encoder.transformer.layers.0.attention.q_proj.weight': 1, 'encoder.feature_projection.projection.bias': 2,
        'encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original0': 3}


def _detector(*extra):
    torch.manual_seed(0)
    return build_detector(get_args(SSL_ARGS + list(extra))[0])


def test_the_frozen_front_end_gets_no_gradient_and_stays_out_of_checkpoints():
    detector = _detector().train()
    assert not detector.ssl.training and detector.classifier.training
    features = detector.features(torch.randn(2, 16_000))
    assert features.shape == (2, 4, 49, 32) and not features.requires_grad
    (detector(features)[0] @ detector.centroids[0].t()).sum().backward()
    assert all(p.grad is None for p in detector.ssl.parameters())
    assert all(p.grad is not None for p in detector.classifier.parameters())
    assert not any(key.startswith('ssl.') for key in detector.state_dict())
    detector.start_epoch(151)  # after ssl_freeze_until_epoch: trained, and then saved
    assert detector.ssl.training and any(key.startswith('ssl.') for key in detector.state_dict())
    assert detector.features(torch.randn(1, 16_000)).requires_grad


def test_attentive_statistics_pooling_with_the_authors_noise():
    pooling = AttentiveStatsPooling(3)
    x = torch.randn(2, 5, 3)
    attention = torch.softmax(torch.tanh(x @ pooling.mm_weights.t()), dim=1)
    weighted = x * attention
    out = pooling(x)
    assert torch.allclose(out[:, :3], weighted.sum(1), atol=1e-6)
    assert torch.allclose(out[:, 3:], weighted.std(1), atol=1e-4)  # the 1e-5 noise barely moves it


def test_the_authors_saved_classifier_loads_and_scores_alike(tmp_path):
    source = _detector().eval()
    authors = {f"module.{key[len('classifier.'):]}": value for key, value in source.state_dict().items()
               if key.startswith('classifier.')}
    authors['module.loss.weight'] = source.centroids[0].detach().clone()
    torch.save(authors, tmp_path / 'classifier.pt')
    target = _detector('ssl_num_hidden_states=4').eval()
    torch.manual_seed(5)
    target.centroids[0].data.normal_()
    load_ebm_classifier(target, str(tmp_path / 'classifier.pt'))
    wave = torch.randn(2, 16_000)
    torch.manual_seed(1)
    expected = source.score(wave)
    torch.manual_seed(1)
    assert torch.allclose(target.score(wave), expected, atol=1e-6)
    del authors['module.linear.weight']
    authors['module.extra'] = torch.zeros(1)
    torch.save(authors, tmp_path / 'broken.pt')
    with pytest.raises(ClassifierLoadError, match=r"missing keys \['classifier.linear.weight'\].*'classifier.extra'"):
        target.load_ebm_classifier(str(tmp_path / 'broken.pt'))


def test_two_step_update_learns_on_separable_hidden_states():
    """On hidden states where bona fide and spoof differ, loss_2 falls and the centroid
    turns toward the bona fide embeddings (the bridge has no BatchNorm: the authors' step)."""
    args = get_args(SSL_ARGS + ['use_bpl=False'])[0]
    torch.manual_seed(0)
    detector = build_bridge_detector(4, 32, 16, 24).train()
    optimizer = torch.optim.Adam(detector.parameters(), lr=0.01)
    objective = build_objective(args)
    generator = torch.Generator().manual_seed(1)
    pattern = torch.randn(4, 1, 32, generator=generator)

    def batch(rows, bona):
        states = torch.randn(rows, 4, 12, 32, generator=generator)
        labels = (torch.arange(rows) < bona).long()
        return states + 1.5 * pattern.unsqueeze(0) * labels.view(-1, 1, 1, 1), labels

    before, after, losses_2 = two_step_learning(detector, objective, optimizer, batch, 40)
    assert sum(losses_2[-5:]) < 0.5 * sum(losses_2[:5]), losses_2
    assert after > 0.6 and after > before + 0.3, (before, after)


def test_configuration_rules_for_the_ssl_backbone():
    from utils.config import ConfigError
    with pytest.raises(ConfigError, match='ssl_checkpoint=None: backbone=ssl_bridge needs'):
        get_args(['backbone=ssl_bridge', 'loss_weight=[1.0]'])
    with pytest.raises(ConfigError, match='loss_weight=.*one weight per head: 1 with backbone=ssl_bridge'):
        get_args(['backbone=ssl_bridge', 'ssl_checkpoint=tiny-random', 'loss_weight=[0.5,0.5]'])
    assert get_args(['backbone=ssl_bridge', 'ssl_checkpoint=tiny-random'])[0]['loss_weight'] == [1.0]


def test_preflight_names_a_front_end_of_another_shape(demo_corpus, tmp_path, capsys):
    import main
    paths = [f"{key}={value}" for key, value in demo_corpus.items()]
    code = main.main(paths + SSL_ARGS + [f'path_log={tmp_path}', 'ssl_num_hidden_states=25', 'ssl_hidden_size=1024'])
    assert code == 2
    assert 'tiny-random gives 4 hidden states of width 32; set ssl_num_hidden_states=4 ssl_hidden_size=32' in \
        capsys.readouterr().err


@pytest.mark.slow
def test_ssl_bridge_trains_evaluates_and_infers_end_to_end(demo_corpus, tmp_path, capsys):
    from tests.helpers import FIXTURES as fixtures, tiny_args
    from tools import infer
    from trainer.trainer import Trainer
    args = tiny_args(demo_corpus, tmp_path, 'name=ssl', 'epoch=1', 'path_21LA=None', 'path_21DF=None', *SSL_ARGS)
    trainer = Trainer(args)
    trainer.run()
    state = torch.load(os.path.join(trainer.run_dir, 'models', 'epoch_1.pt'), weights_only=False)
    assert set(state['model']) == {key for key in trainer.detector.state_dict()} and \
        not any(key.startswith('ssl.') for key in state['model'])
    assert 'eval/19LA/eer' in open(os.path.join(trainer.run_dir, 'metrics', 'eval_19LA_eer.txt')).read()
    tester = Trainer(tiny_args(demo_corpus, tmp_path, 'name=ssl', 'TEST=True', 'path_21LA=None', 'path_21DF=None',
                               f"checkpoint={os.path.join(trainer.run_dir, 'models', 'epoch_1.pt')}", *SSL_ARGS))
    tester.run()
    assert tester.oracle['19LA']['eer'] == pytest.approx(trainer.oracle['19LA']['eer'], abs=2.0)  # ASP noise only
    capsys.readouterr()
    flac = os.path.join(fixtures, 'asvspoof2019_la', 'LA_T_1272637.flac')
    assert infer.main(['--checkpoint', os.path.join(trainer.run_dir, 'models', 'epoch_1.pt'), flac]) == 0
    assert capsys.readouterr().out.startswith(flac)
