"""Magnitude pruning: masks against a NumPy selection of the smallest weights, the Deep
Compression schedule against its formula, outputs against F.conv / F.linear with masked weights,
a pruned third-party-style model trained, saved and loaded, and the removal of what pruning zeroed."""

import copy
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
from bandlimit.compress.prune import (
    PruneConfig,
    pruned_layers,
    remove_pruning_,
    scheduled_amount,
    weight_sparsity,
)
from bandlimit.errors import ConfigError
from bandlimit.train import TrainConfig, train
from bandlimit.train.run import load_trained

from third_party_models import VGGish, random_bn_, removal_keeps_outputs


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 4, 3, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 5),
    )


def _weights(model: nn.Module) -> dict[str, np.ndarray]:
    return {n: m.weight.detach().numpy().copy() for n, m in model.named_modules() if hasattr(m, "weight")}


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.75, 0.99])
def test_layer_scope_zeroes_each_layers_smallest_weights(amount):
    before = _weights(_model())
    model = bl.compress_(_model(), PruneConfig(amount=amount, scope="layer"))
    for name, w in before.items():
        pruned = model.get_submodule(name).weight.detach().numpy()
        k = round(amount * w.size)
        order = np.argsort(np.abs(w).ravel(), kind="stable")
        expected = w.ravel().copy()
        expected[order[:k]] = 0
        np.testing.assert_array_equal(pruned.ravel(), expected)


def test_global_scope_uses_one_threshold_over_all_layers():
    before = np.concatenate([w.ravel() for w in _weights(_model()).values()])
    model = bl.compress_(_model(), PruneConfig(amount=0.6))
    after = np.concatenate([w.ravel() for w in _weights(model).values()])
    assert (after == 0).sum() == round(0.6 * before.size)
    assert np.abs(before[after == 0]).max() <= np.abs(before[after != 0]).min()
    np.testing.assert_array_equal(after[after != 0], before[after != 0])
    sparsity = weight_sparsity(model)
    assert len(set(sparsity.values())) > 1  # layers end at different sparsities


def test_pruned_outputs_and_gradients_equal_the_masked_dense_layers():
    model = bl.compress_(_model(), PruneConfig(amount=0.5))
    x = torch.randn(3, 2, 8, 8, requires_grad=True)
    conv1, conv2, fc = model[0], model[2], model[5]
    masked = [m.weight_orig * m.weight_mask for m in (conv1, conv2, fc)]
    h = F.relu(F.conv2d(x, masked[0], conv1.bias, padding=1))
    h = F.relu(F.conv2d(h, masked[1], conv2.bias, stride=2))
    expected = F.linear(h.flatten(1), masked[2], fc.bias)
    torch.testing.assert_close(model(x), expected)
    model(x).square().sum().backward()
    for m in (conv1, conv2, fc):  # a pruned weight gets no gradient: it never comes back
        assert (m.weight_orig.grad[m.weight_mask == 0] == 0).all()
        assert m.weight_orig.grad[m.weight_mask == 1].abs().sum() > 0


def test_overrides_and_band_limited_layers():
    model = bl.compress_(_model(), [bl.BandLimitConfig(rate=0.5), PruneConfig(amount=0.8, overrides={"5": 0.0})])
    assert set(pruned_layers(model)) == {"0", "2", "5"}
    assert weight_sparsity(model)["5"] == 0.0  # kept dense by its override
    zeros = sum(int((model.get_submodule(n).weight == 0).sum()) for n in ("0", "2"))
    assert zeros == round(0.8 * (108 + 216))  # the global threshold over the two others
    reference = bl.compress_(_model(), bl.BandLimitConfig(rate=0.5))
    with torch.no_grad():
        for name in ("0", "2"):
            reference.get_submodule(name).weight.copy_(model.get_submodule(name).weight)
    x = torch.randn(2, 2, 8, 8)
    torch.testing.assert_close(model(x), reference(x))


def test_a_pruned_model_deep_copies_and_pickles_after_training_steps(tmp_path):
    model = bl.compress_(_model(), PruneConfig(amount=0.5))
    x = torch.randn(2, 2, 8, 8)
    model(x).sum().backward()  # the masked weight was computed with a graph
    for other in (copy.deepcopy(model), _saved_and_loaded(model, tmp_path / "model.pt")):
        torch.testing.assert_close(other(x), model(x))
        assert set(pruned_layers(other)) == {"0", "2", "5"}
    model(x).sum().backward()  # and it still trains
    assert model[0].weight_orig.grad is not None


def _saved_and_loaded(model: nn.Module, path) -> nn.Module:
    torch.save(model, path)
    return torch.load(path, weights_only=False)


def test_remove_pruning_keeps_the_zeros_in_a_plain_parameter():
    model = bl.compress_(_model(), PruneConfig(amount=0.7))
    x = torch.randn(2, 2, 8, 8)
    expected = model(x)
    remove_pruning_(model)
    assert not pruned_layers(model) and isinstance(model[0].weight, nn.Parameter)
    assert set(model.state_dict()) == set(_model().state_dict())
    torch.testing.assert_close(model(x), expected)


def test_the_schedule_follows_its_formula():
    # warmup round(0.25 * 10) = 2 epochs; prunings at 2 + floor(i * 8 / 3) = 2, 4, 7, each leaving
    # (1 - 0.875) ** ((i + 1) / 3) = 1/2, 1/4, 1/8 of the weights.
    expected = [0, 0, 0.5, 0.5, 0.75, 0.75, 0.75, 0.875, 0.875, 0.875]
    got = [scheduled_amount(0.875, epoch, 10, 3, 0.25) for epoch in range(10)]
    np.testing.assert_allclose(got, expected)
    assert scheduled_amount(0.5, 0, 1, 3, 0.25) == pytest.approx(0.5)  # one epoch: all prunings at once


def test_begin_epoch_restarts_dense_then_prunes_monotonically():
    config = PruneConfig(amount=0.875, iterations=3, warmup=0.25)
    model = bl.compress_(_model(), config)  # one shot: 87.5% now
    config.begin_epoch(model, 0, 10)
    assert max(weight_sparsity(model).values()) == 0.0  # the schedule starts dense
    previous = None
    for epoch in (2, 4, 7):
        config.begin_epoch(model, epoch, 10)
        masks = {n: m.weight_mask.clone() for n, m in pruned_layers(model).items()}
        total = sum(m.numel() for m in masks.values())
        zeros = sum(int((m == 0).sum()) for m in masks.values())
        assert zeros == round(scheduled_amount(0.875, epoch, 10, 3, 0.25) * total)
        if previous is not None:  # a pruned weight stays pruned
            assert all((masks[n][previous[n] == 0] == 0).all() for n in masks)
        previous = masks


def test_a_training_run_follows_the_schedule_and_resumes_with_its_masks(tmp_path):
    config = TrainConfig(
        model="fcn",
        data="synthetic1d",
        limit=64,
        epochs=4,
        batch_size=16,
        model_kwargs={"widths": [4, 8, 4]},
        compression=(PruneConfig(amount=0.75, iterations=2, warmup=0.25, scope="layer"),),
    )
    result = train(config, tmp_path, log=lambda line: None)
    assert result.epochs == 4
    saved = json.loads((tmp_path / "config.json").read_text())["compression"]
    assert saved[0]["method"] == "prune" and saved[0]["amount"] == 0.75
    exp = load_trained(tmp_path / "checkpoint.pt")
    for sparsity in weight_sparsity(exp.model).values():
        assert sparsity == pytest.approx(0.75, abs=0.02)


def test_bad_configs_name_the_argument():
    with pytest.raises(ConfigError, match=r"amount must be in \[0, 1\)"):
        PruneConfig(amount=1.0)
    with pytest.raises(ConfigError, match="scope must be one of"):
        PruneConfig(scope="net")
    with pytest.raises(ConfigError, match="iterations must be >= 1"):
        PruneConfig(iterations=0)
    with pytest.raises(ConfigError, match=r"prune overrides \['nope'\] name no pruned layer"):
        bl.compress_(_model(), PruneConfig(overrides={"nope": 0.5}))


# ----------------------------------------------------------------------------------------
# Against a NumPy reference; training, saving and loading, and removal after pruning.


def _layers() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv1d(2, 2, 1), nn.Linear(20, 7))


def _numpy_masks(weights: list[np.ndarray], amount: float) -> list[np.ndarray]:
    flat = np.concatenate([np.abs(w).ravel() for w in weights])
    k = round(amount * flat.size)
    keep = np.ones(flat.size, dtype=bool)
    keep[np.argsort(flat, kind="stable")[:k]] = False
    return [m.reshape(w.shape) for m, w in zip(np.split(keep, np.cumsum([w.size for w in weights])[:-1]), weights)]


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.77, 0.999])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_masks_equal_a_numpy_reference(amount, scope):
    model = _layers()
    weights = {n: m.weight.detach().numpy().copy() for n, m in model.named_modules() if hasattr(m, "weight")}
    bl.compress_(model, PruneConfig(amount=amount, scope=scope))
    names = list(weights)
    if scope == "global":
        expected = dict(zip(names, _numpy_masks([weights[n] for n in names], amount)))
    else:
        expected = {n: _numpy_masks([weights[n]], amount)[0] for n in names}
    layers = pruned_layers(model)
    assert sorted(layers) == sorted(names)
    for n in names:
        np.testing.assert_array_equal(layers[n].weight_mask.numpy().astype(bool), expected[n])
        np.testing.assert_array_equal(layers[n].weight.detach().numpy(), weights[n] * expected[n])
    if amount == 0:
        assert all(v == 0 for v in weight_sparsity(model).values())


def test_prune_overrides_under_global_scope_are_pruned_on_their_own():
    model = _layers()
    weights = {n: m.weight.detach().numpy().copy() for n, m in model.named_modules() if hasattr(m, "weight")}
    bl.compress_(model, PruneConfig(amount=0.6, overrides={"3": 0.0, "0": 0.9}))
    layers = pruned_layers(model)
    np.testing.assert_array_equal(layers["3"].weight_mask.numpy(), np.ones_like(weights["3"]))
    np.testing.assert_array_equal(layers["0"].weight_mask.numpy().astype(bool), _numpy_masks([weights["0"]], 0.9)[0])
    np.testing.assert_array_equal(layers["2"].weight_mask.numpy().astype(bool), _numpy_masks([weights["2"]], 0.6)[0])


def test_pruned_model_trains_saves_and_loads_into_a_fresh_compressed_model():
    torch.manual_seed(0)
    model = bl.compress_(VGGish(), PruneConfig(amount=0.7))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 3, 8, 8)
    for _ in range(2):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    masks = {n: m.weight_mask.clone() for n, m in pruned_layers(model).items()}
    for n, m in pruned_layers(model).items():
        assert bool(((m.weight == 0) | (masks[n] == 1)).all())  # pruned weights stay zero
    model.eval()
    with torch.no_grad():
        expected = model(x)
    torch.manual_seed(5)
    fresh = bl.compress_(VGGish(), PruneConfig(amount=0.2))
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    copied = copy.deepcopy(model)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        for other in (fresh, copied, loaded):
            torch.testing.assert_close(other(x), expected)


def test_prune_then_remove_pruning_then_remove_zero_channels_keeps_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 6, 3), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3),
    )  # fmt: skip
    random_bn_(model)
    bl.compress_(model, PruneConfig(amount=0.6, scope="layer"))
    with torch.no_grad():  # zero whole filters and a column of the linear layer through the masks
        model[0].weight_mask[[1, 5]] = 0
        model[3].weight_mask[:, 2] = 0
        model[7].weight_mask[:, 4] = 0
    remove_pruning_(model)
    assert not pruned_layers(model)
    removed = removal_keeps_outputs(model, torch.randn(2, 3, 9, 9))
    assert removed["0"] >= 1 and removed["3"] >= 1
