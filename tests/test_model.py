import os

import pytest
import torch

from arguments import get_args
from trainer.build import build_detector
from models.release import ReleaseLoadError
from tests.helpers import FIXTURES

RELEASE = os.path.join(FIXTURES, 'hm_conformer_release')


@pytest.fixture(scope='module')
def args():
    return get_args()[0]


@pytest.fixture
def detector(args):
    torch.manual_seed(0)
    return build_detector(args)


def test_parameter_counts_match_the_authors_model(detector):
    assert sum(p.numel() for p in detector.frontend.parameters()) == 2_690_944
    for head in detector.backends:
        assert sum(p.numel() for p in head.parameters()) == 8_384
    assert [tuple(c.shape) for c in detector.centroids] == [(1, 64)] * 5
    assert sum(p.numel() for p in detector.lfcc.parameters()) == 0


def test_state_dict_names_follow_the_release_layout(detector):
    layout = os.path.join(RELEASE, 'STATE_DICT_LAYOUT.txt')
    expected = {}
    with open(layout) as handle:
        for line in handle:
            fields = line.split()
            if line.startswith('frontend '):
                expected[fields[1]] = tuple(int(v) for v in ''.join(fields[2:]).strip('()').split(',') if v)
    actual = {key: tuple(value.shape) for key, value in detector.frontend.state_dict().items()}
    assert actual == expected


@pytest.mark.parametrize('samples,frames', [(64_600, 404), (48_440, 303)])
def test_shapes_through_the_hierarchy(detector, samples, frames):
    detector.eval()
    features = detector.lfcc(torch.randn(2, samples))
    assert features.shape == (2, frames, 120)
    lengths = []
    x, pos_emb = detector.frontend.conformer_mp.embed(features)
    lengths.append(x.shape[1] - 3)
    cls_from = []
    for index, block in enumerate(detector.frontend.conformer_mp.encoders):
        x, pos_emb = block(x, pos_emb)
        assert pos_emb.shape[1] == x.shape[1] - (1 if block.pool is not None else 0)
        if index in (1, 3):
            cls_from.append(index)
            x = x[:, 1:]
            lengths.append(x.shape[1] - block.len_cls + 1)
    if samples == 64_600:
        assert lengths == [201, 100, 50]
    frames_out, cls = detector.frontend.conformer_mp(features)
    assert cls.shape == (2, 3, 128)
    assert frames_out.shape == (2, lengths[-1], 128)
    assert cls_from == [1, 3]
    embeddings = detector(features)
    assert [tuple(e.shape) for e in embeddings] == [(2, 64)] * 5


@pytest.mark.parametrize('layers', [[2], [0, 2, 4], [1, 2, 3]])
def test_other_pooling_blocks_get_one_cls_token_per_level(layers):
    """Every level the encoder reads out has its own token in front of the frames: with k
    pooling blocks, k + 1 tokens; the frames are halved k times and none is read as a CLS."""
    args = get_args([f'downsample_layer={layers}', f"loss_weight={[1.0] * (len(layers) + 3)}", 'output_size=32',
                     'linear_units=48', 'embedding_size=16'])[0]
    torch.manual_seed(0)
    encoder = build_detector(args).eval().frontend.conformer_mp
    features = torch.randn(2, 404, 120)
    sequence, _ = encoder.embed(features)
    assert sequence.shape[1] == len(layers) + 1 + 201
    assert encoder.embed.cls_token1.shape == (1, len(layers), 32)
    frames, cls = encoder(features)
    expected = 201
    for _ in layers:
        expected //= 2
    assert frames.shape[1] == expected and cls.shape[1] == len(layers) + 1


def test_cls_rows_skip_the_convolution(detector):
    block = detector.frontend.conformer_mp.encoders[2]
    assert block.len_cls == 2
    x = torch.randn(3, 2 + 40, 128)
    module = block.conv_module.eval()
    before = module(x, block.len_cls)
    with torch.no_grad():
        module.depthwise_conv.weight.add_(torch.randn_like(module.depthwise_conv.weight))
    after = module(x, block.len_cls)
    assert torch.equal(before[:, :2], x[:, :2]) and torch.equal(after[:, :2], x[:, :2])
    assert not torch.allclose(before[:, 2:], after[:, 2:])


def test_len_cls_per_block(detector):
    assert [b.len_cls for b in detector.frontend.conformer_mp.encoders] == [3, 3, 2, 2, 1, 1]
    assert [b.pool is not None for b in detector.frontend.conformer_mp.encoders] == [
        False, True, False, True, False, False]


def test_first_cls_is_recorded_after_pooling(detector):
    """The level-0 CLS output is c_a after block 1, i.e. row 0 of that block's output."""
    detector.eval()
    features = torch.randn(2, 100, 120)
    encoder = detector.frontend.conformer_mp
    x, pos_emb = encoder.embed(features)
    for block in encoder.encoders[:2]:
        x, pos_emb = block(x, pos_emb)
    _, cls = encoder(features)
    assert torch.allclose(cls[:, 0], x[:, 0])


def test_five_embeddings_differ_and_eval_is_deterministic(detector):
    detector.eval()
    wave = torch.randn(3, 16_000)
    first = detector(detector.features(wave))
    second = detector(detector.features(wave))
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    for i in range(5):
        for j in range(i + 1, 5):
            assert not torch.allclose(first[i], first[j])
    assert torch.equal(detector.score(wave), detector.scores_from_features(detector.lfcc(wave)))


def test_score_is_the_cosine_of_the_last_head(detector):
    detector.eval()
    features = detector.features(torch.randn(4, 16_000))
    embedding = detector(features)[-1]
    centroid = detector.centroids[-1]
    expected = (embedding @ centroid.T).squeeze(1) / (embedding.norm(dim=1) * centroid.norm())
    assert torch.allclose(detector.scores_from_features(features), expected, atol=1e-6)


def test_gradients_reach_every_trainable_parameter(detector):
    detector.train()
    embeddings = detector(detector.features(torch.randn(4, 16_000)))
    loss = sum((e @ c.T).sum() for e, c in zip(embeddings, detector.centroids))
    loss.backward()
    missing = [name for name, p in detector.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_the_detector_masks_its_features_in_training_mode_only(detector):
    wave = torch.randn(2, 16_000)
    plain = detector.lfcc(wave)
    detector.eval()
    assert torch.equal(detector.features(wave), plain)
    detector.train()
    masked = [detector.features(wave) for _ in range(5)]
    assert any(not torch.equal(m, plain) for m in masked)
    for m in masked:  # whole frames are zeroed, nothing else changes
        changed = (m != plain).any(dim=2)
        assert torch.equal(m[~changed], plain[~changed]) and (m[changed] == 0).all()


def test_centroids_start_as_the_authors_plus_minus_one(detector):
    """kaiming_uniform_(a=0.25), renorm_(2, 1, 1e-5), mul_(1e5): every entry +-1, norm sqrt(D)."""
    signs = []
    for centroid in detector.centroids:
        # renorm divides by (norm + 1e-7), so an entry x becomes |x| / (|x| + 1e-7) in size
        assert torch.allclose(centroid.abs(), torch.ones_like(centroid), atol=1e-2)
        assert centroid.norm().item() == pytest.approx(8.0, abs=1e-2)
        signs.append(torch.sign(centroid))
    assert not all(torch.equal(signs[0], s) for s in signs[1:])  # independent draws
    assert 10 < (signs[0] > 0).sum().item() < 54  # both signs, as a symmetric draw gives


def test_real_release_files_load_into_heads_and_centroids(detector):
    directory = RELEASE
    loaded = detector.load_hm_conformer_release(directory, 'DF', 20, parts=('backend', 'loss'))
    assert len(loaded) == 10
    for k in range(5):
        state = torch.load(os.path.join(directory, f'check_point_DF_backend{k}_20.pt'), map_location='cpu')
        assert torch.equal(detector.backends[k].fc.weight, state['module.fc.weight'])
        assert torch.equal(detector.backends[k].bn.running_var, state['module.bn.running_var'])
        centroid = torch.load(os.path.join(directory, f'check_point_DF_loss{k}_20.pt'), map_location='cpu')['module.weight']
        assert torch.equal(detector.centroids[k].data, centroid)


def test_real_release_without_frontend_names_the_missing_file(detector):
    directory = RELEASE
    with pytest.raises(ReleaseLoadError, match='check_point_DF_frontend_20.pt'):
        detector.load_hm_conformer_release(directory)


def test_saved_release_round_trip_reproduces_scores(args, detector, tmp_path):
    detector.eval()
    wave = torch.randn(3, 16_000)
    expected = detector.score(wave)
    paths = detector.save_hm_conformer_release(str(tmp_path), 'LA', 7)
    assert len(paths) == 11
    assert all(key.startswith('module.') for key in torch.load(paths[0]))
    torch.manual_seed(123)
    other = build_detector(args).eval()
    assert not torch.equal(other.score(wave), expected)
    other.load_hm_conformer_release(str(tmp_path), 'LA', 7)
    assert torch.equal(other.score(wave), expected)


def test_wrong_shape_and_missing_key_are_named(detector, tmp_path):
    detector.save_hm_conformer_release(str(tmp_path))
    path = tmp_path / 'check_point_DF_backend2_20.pt'
    state = torch.load(path)
    state['module.fc.weight'] = torch.zeros(64, 100)
    torch.save(state, path)
    with pytest.raises(ReleaseLoadError, match=r"backend2_20.pt: key 'fc.weight' has shape \(64, 100\)"):
        detector.load_hm_conformer_release(str(tmp_path))
    del state['module.fc.weight']
    state['module.extra'] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ReleaseLoadError, match=r"missing keys \['fc.weight'\], unexpected keys \['extra'\]"):
        detector.load_hm_conformer_release(str(tmp_path))


def test_failed_load_changes_nothing(detector, tmp_path):
    detector.save_hm_conformer_release(str(tmp_path))
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    loss_path = tmp_path / 'check_point_DF_loss4_20.pt'
    torch.save({'module.weight': torch.zeros(1, 32)}, loss_path)
    with torch.no_grad():
        for p in detector.parameters():
            p.add_(1.0)
    changed = {k: v.clone() for k, v in detector.state_dict().items()}
    with pytest.raises(ReleaseLoadError):
        detector.load_hm_conformer_release(str(tmp_path))
    for key, value in detector.state_dict().items():
        assert torch.equal(value, changed[key])
    assert any(not torch.equal(before[k], changed[k]) for k in before)


def test_pooling_block_rescales_and_re_encodes_positions(detector):
    """Faithful quirk: after pooling, [other CLS, pooled frames] is multiplied by sqrt(d) again
    and gets a fresh position table of its own length; the first CLS is put back unscaled."""
    import math
    from models.positional_encoding import sinusoid_table
    block = detector.frontend.conformer_mp.encoders[1].eval()
    x = torch.randn(2, 3 + 40, 128)
    pos_emb = sinusoid_table(43, 128).unsqueeze(0)
    out, new_pos = block(x, pos_emb)
    block.pool, saved = None, block.pool
    try:
        plain, _ = block(x, pos_emb)
    finally:
        block.pool = saved
    pooled = torch.nn.functional.max_pool1d(plain[:, 3:].transpose(1, 2), 2, 2).transpose(1, 2)
    expected = torch.cat([plain[:, :1], math.sqrt(128) * torch.cat([plain[:, 1:3], pooled], dim=1)], dim=1)
    assert out.shape == (2, 1 + 2 + 20, 128)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(new_pos[0], sinusoid_table(22, 128))
