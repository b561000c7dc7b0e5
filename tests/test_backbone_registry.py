"""One detector interface, one registry: a backbone defined in this file alone (the toy below,
docs/method.md section 8c walks through it) trains, evaluates, resumes and infers end to end,
and every registered backbone keeps the interface."""
import json
import os
from typing import List

import pytest
import torch
from torch import nn

from arguments import get_args
from data.audio import read_audio
from data.views import make_view
from models.backbone import Backbone
from models.ebm_detector import EBMDetector
from models.registry import BACKBONES, build_detector, register_backbone
from tests.helpers import FIXTURES, metric_steps, tiny_args
from utils.config import ConfigError


class ToyDetector(EBMDetector):
    """wave (B, N) -> log energy of 16 bands per 10 ms frame -> mean and std over time -> one embedding."""

    def __init__(self, hop: int = 160, embedding_size: int = 64):
        super().__init__()
        self.hop = hop
        self.projection = nn.Linear(32, embedding_size)
        self.norm = nn.BatchNorm1d(embedding_size)
        self.init_centroids([embedding_size])

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        frames = wave[:, :wave.shape[1] // self.hop * self.hop].reshape(len(wave), -1, self.hop)
        power = torch.fft.rfft(frames, dim=-1).abs().pow(2)[..., :-1]            # (B, T, hop / 2)
        return torch.log(power.reshape(*power.shape[:2], 16, -1).sum(-1) + 1e-6)  # (B, T, 16)

    def forward(self, features: torch.Tensor) -> List[torch.Tensor]:
        statistics = torch.cat([features.mean(dim=1), features.std(dim=1)], dim=1)
        return [self.norm(self.projection(statistics))]


def build_toy_detector(hop: int = 160, embedding_size: int = 64) -> ToyDetector:
    return ToyDetector(hop, embedding_size)


TOY = Backbone(build=build_toy_detector, num_heads=lambda args: 1, summary='band energies, mean and std, a linear map',
               input='log band energies', weights='trained from scratch')
TOY_ARGS = ['backbone=toy', 'loss_weight=[1.0]', 'codec_p=0', 'rawboost=False']  # the data path is tested elsewhere


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(BACKBONES, 'toy', TOY)


def test_the_registry_checks_what_it_is_given(toy):
    with pytest.raises(TypeError, match="backbone 'bad': expected a models.backbone.Backbone, got function"):
        register_backbone('bad', build_toy_detector)
    not_a_detector = Backbone(build=lambda embedding_size=64: nn.Linear(1, 1), num_heads=lambda args: 1,
                              summary='', input='', weights='')
    BACKBONES['wrong'] = not_a_detector
    try:
        with pytest.raises(TypeError, match="backbone 'wrong': .* returned a Linear, which is not an EBMDetector"):
            build_detector(get_args(['backbone=wrong', 'loss_weight=[1.0]'])[0])
    finally:
        del BACKBONES['wrong']
    with pytest.raises(ConfigError, match="backbone='nope': must be one of hm_conformer, ssl_bridge, aasist, toy"):
        get_args(['backbone=nope'])
    with pytest.raises(ConfigError, match=r'one weight per head: 1 with backbone=toy \(e.g. loss_weight=\[1.0\]\)'):
        get_args(['backbone=toy', 'loss_weight=[1,1,1,1,1]'])
    assert get_args(['backbone=toy'])[0]['loss_weight'] == [1.0]   # the backbone's own default


def test_a_detector_must_implement_the_interface():
    class Incomplete(EBMDetector):
        def forward(self, features):
            return [features]

    with pytest.raises(TypeError, match="abstract method 'features'|abstract methods? .*features"):
        Incomplete()


BACKBONE_SETTINGS = {
    'hm_conformer': ['output_size=32', 'linear_units=48', 'embedding_size=16'],
    'ssl_bridge': ['ssl_checkpoint=tiny-random', 'loss_weight=[1.0]'],
    'aasist': ['aasist_channels=[8,8,16,16]', 'aasist_gat_dims=[16,8]', 'loss_weight=[1.0]'],
}


def test_every_registered_backbone_has_test_settings():
    assert set(BACKBONE_SETTINGS) == set(BACKBONES)


@pytest.mark.parametrize('name', sorted(BACKBONE_SETTINGS))
def test_every_backbone_keeps_the_interface(name):
    args = get_args([f'backbone={name}'] + BACKBONE_SETTINGS[name])[0]
    detector = build_detector(args)
    assert isinstance(detector, EBMDetector)
    assert detector.num_heads == BACKBONES[name].num_heads(args) == len(args['loss_weight'])
    assert detector.centroid_names() == [f'centroids.{k}' for k in range(detector.num_heads)]
    detector.train()
    embeddings = detector(detector.features(torch.randn(4, 8000)))
    assert len(embeddings) == detector.num_heads
    assert all(e.shape == (4, c.shape[1]) for e, c in zip(embeddings, detector.centroids))
    scores = detector.eval().score(torch.randn(3, 8000))
    assert scores.shape == (3,) and ((scores >= -1) & (scores <= 1)).all()
    frozen = {id(p) for p in detector.frozen_parameters()}
    assert not any(p.requires_grad for p in detector.parameters() if id(p) in frozen)


@pytest.mark.slow
def test_a_backbone_registered_here_trains_evaluates_resumes_and_infers(toy, demo_corpus, tmp_path, capsys):
    """Evaluation runs after each epoch; TEST=True, the same evaluation of a saved model, is
    tested for the other backbones."""
    from tools import infer
    from trainer.trainer import Trainer
    first = Trainer(tiny_args(demo_corpus, tmp_path, 'name=toy', 'epoch=1', 'path_21DF=None', *TOY_ARGS))
    first.run()
    assert isinstance(first.detector, ToyDetector)
    assert {'19LA', '21LA'} <= set(first.oracle)
    resumed = Trainer(tiny_args(demo_corpus, tmp_path, 'name=toy', 'epoch=2', 'path_21DF=None', 'resume=auto',
                                *TOY_ARGS))
    resumed.run()
    assert resumed.epoch == 2
    assert metric_steps(resumed.run_dir, 'eval_19LA_eer.txt') == [1, 2]
    steps = metric_steps(resumed.run_dir, 'train_loss_1.txt')
    assert steps == list(range(1, len(steps) + 1))  # one line per step, none repeated after the resume
    checkpoint = os.path.join(resumed.run_dir, 'models', 'epoch_2.pt')
    capsys.readouterr()
    flac = os.path.join(FIXTURES, 'asvspoof2019_la', 'LA_T_1272637.flac')
    assert infer.main(['--checkpoint', checkpoint, '--json', flac]) == 0
    result = json.loads(capsys.readouterr().out)['results'][0]
    wave = torch.from_numpy(make_view(read_audio(flac), 8600, False, None)).float()[None]
    with torch.no_grad():
        assert result['score'] == pytest.approx(float(resumed.detector.eval().score(wave)), abs=1e-6)


def test_the_demo_adds_the_overrides_of_the_backbone_named(tmp_path, toy):
    from recipes.demo.settings import demo_overrides
    (tmp_path / '.complete').write_text('path_19LA=/corpus/ASVspoof2019')
    default = demo_overrides(str(tmp_path))
    assert default[0] == 'path_19LA=/corpus/ASVspoof2019' and default.count('name=demo') == 1
    assert demo_overrides(str(tmp_path), ['backbone=ssl_bridge'])[len(default):] == \
        ['ssl_checkpoint=tiny-random', 'name=demo_ssl_bridge']
    assert demo_overrides(str(tmp_path), ['backbone=toy'])[len(default):] == ['name=demo_toy']
    assert demo_overrides(str(tmp_path), ['backbone=unknown']) == default  # the configuration check names it


@pytest.mark.parametrize('name,extra', [('hm_conformer', []), ('aasist', ['loss_weight=[1.0]']),
                                        ('ssl_bridge', ['loss_weight=[1.0]', 'ssl_checkpoint=tiny-random'])])
def test_min_frames_is_the_shortest_crop_the_backbone_scores(name, extra):
    """At min_frames the default configuration gives finite scores; one frame less fails (or,
    for the bridge, leaves one wav2vec 2.0 frame and a NaN standard deviation); the rules
    refuse crops below it, naming the key."""
    import warnings
    from arguments import get_args
    from data.views import crop_samples
    from models.registry import get_backbone
    from trainer.build import build_detector
    from utils.config import ConfigError
    args = get_args([f'backbone={name}'] + extra)[0]
    minimum = get_backbone(name).min_frames
    detector = build_detector(args).eval()
    with torch.no_grad():
        assert torch.isfinite(detector.score(torch.randn(2, crop_samples(minimum)))).all()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            try:
                shorter = detector.score(torch.randn(2, crop_samples(minimum - 1)))
            except RuntimeError:
                shorter = None
        assert shorter is None or not torch.isfinite(shorter).all()
    with pytest.raises(ConfigError, match=f'num_test_frames={minimum - 1}: .* below its shortest'):
        get_args([f'backbone={name}', f'num_test_frames={minimum - 1}'] + extra)
    with pytest.raises(ConfigError, match='num_train_frames_short=.*after the speed factor 1.1'):
        get_args([f'backbone={name}', f'num_train_frames_short={minimum}'] + extra)
