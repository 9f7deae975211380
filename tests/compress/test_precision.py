"""Reduced precision as a compression config: the model's forward under torch.autocast, also with
sparse execution, a forward that raises, nested models and keyword inputs, copies and pickles."""

import copy
import io
import json

import pytest
import torch
from torch import nn

import bandlimit as bl
from bandlimit.cli import main
from bandlimit.compress import PrecisionConfig, PruneConfig, SparseConfig
from bandlimit.compress.precision import autocast_dtype, needs_grad_scaler
from bandlimit.errors import ConfigError
from bandlimit.memory import count_saved_bytes
from bandlimit.train import TrainConfig, apply_settings

from third_party_models import sparsify_


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 10, 5)
    )


def test_the_forward_equals_torch_autocast_around_the_plain_model():
    x = torch.randn(4, 3, 10, 10)
    plain = _model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = plain(x)
    model = bl.compress_(_model(), bl.PrecisionConfig(dtype="bf16"))
    out = model(x)
    assert out.dtype == torch.bfloat16 and not torch.is_autocast_enabled("cpu")  # left after the call
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert autocast_dtype(model) == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the master weights stay fp32


def test_it_composes_with_band_limiting_in_either_order():
    x = torch.randn(2, 3, 10, 10)
    reference = bl.compress_(_model(), bl.BandLimitConfig(rate=0.5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = reference(x)
    for configs in (
        [bl.BandLimitConfig(rate=0.5), bl.PrecisionConfig()],
        [bl.PrecisionConfig(), bl.BandLimitConfig(rate=0.5)],
    ):
        model = bl.compress_(_model(), configs)
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)


def test_fp32_removes_it_and_applying_twice_installs_one_context():
    model = bl.compress_(_model(), bl.PrecisionConfig())
    bl.compress_(model, bl.PrecisionConfig(dtype="fp16"))
    assert len(model._forward_pre_hooks) == 1 and autocast_dtype(model) == torch.float16
    bl.compress_(model, bl.PrecisionConfig(dtype="fp32"))
    assert not model._forward_pre_hooks and not model._forward_hooks and autocast_dtype(model) is None
    assert model(torch.randn(1, 3, 10, 10)).dtype == torch.float32


def test_an_exception_in_the_forward_leaves_autocast_off():
    model = bl.compress_(_model(), bl.PrecisionConfig())
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 4, 10, 10))  # wrong channel count
    assert not torch.is_autocast_enabled("cpu")
    assert model(torch.randn(1, 3, 10, 10)).dtype == torch.bfloat16  # and it still works


def test_a_converted_model_deep_copies_and_pickles():
    model = bl.compress_(_model(), bl.PrecisionConfig())
    x = torch.randn(1, 3, 10, 10)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for other in (copy.deepcopy(model), torch.load(buffer, weights_only=False)):
        assert other(x).dtype == torch.bfloat16
        torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)


def test_backward_keeps_fewer_bytes_and_gradients_are_fp32():
    x = torch.randn(8, 3, 10, 10)
    sizes = []
    for configs in ([], [bl.PrecisionConfig()]):
        model = bl.compress_(_model(), configs) if configs else _model()
        with count_saved_bytes(exclude=model.parameters()) as saved:
            loss = model(x).float().square().mean()
        loss.backward()
        assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
        sizes.append(saved.total)
    assert sizes[1] < 0.75 * sizes[0]


def test_bad_configs_name_the_argument():
    with pytest.raises(ConfigError, match=r"dtype must be one of \['fp32', 'bf16', 'fp16'\], got 'int8'"):
        bl.PrecisionConfig(dtype="int8")
    with pytest.raises(ConfigError, match="takes no overrides"):
        bl.PrecisionConfig(overrides={"0": "fp32"})


def test_train_configs_carry_precision_as_a_compression_config():
    config = apply_settings(TrainConfig(), {"precision": "fp16"})
    assert [c.method for c in config.compression] == ["precision"]  # the default compression is none
    assert needs_grad_scaler(config.compression) and not needs_grad_scaler(TrainConfig().compression)
    # A run folder of the previous version, with its precision field, still loads.
    old = {**TrainConfig().to_dict(), "version": 2, "precision": "bf16"}
    del old["compression"]
    loaded = TrainConfig.from_dict(old)
    assert loaded.compression == (bl.BandLimitConfig(rate=0.0), bl.PrecisionConfig(dtype="bf16"))
    assert TrainConfig.from_dict({**old, "precision": "fp32"}).compression == (bl.BandLimitConfig(rate=0.0),)
    with pytest.raises(ConfigError, match="need it in the compression"):
        apply_settings(TrainConfig(), {"method": "bandlimit", "precision": "bf16"})


def test_the_precision_flag_on_the_command_line(tmp_path):
    argv = ["train", "--model", "fcn", "--data", "synthetic1d", "--limit", "32", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--model-arg", "widths=[4,8,4]", "--precision", "bf16", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "config.json").read_text())["compression"]
    assert [c["method"] for c in saved] == ["precision"] and saved[0]["dtype"] == "bf16"  # no compression by default


# ----------------------------------------------------------------------------------------
# With sparse execution, a forward that raises, nested models, keyword inputs, copies.


def test_precision_composes_with_sparse_execution():
    """(Failed at 7c36585: sparse.mm autocast to bf16, which has no CSR kernel; fixed by the
    float32 product in functional/sparse.py's _product.)"""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    sparsify_(model)
    bl.compress_(model, [SparseConfig(), PrecisionConfig(dtype="bf16")])
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 2) and not torch.is_autocast_enabled("cpu")
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(out.float(), plain(x), rtol=5e-2, atol=5e-2)


def test_precision_leaves_autocast_when_forward_raises_and_recovers():
    class Flaky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.fail = True

        def forward(self, x):
            y = self.lin(x)
            if self.fail:
                raise ValueError("boom")
            return y

    model = bl.compress_(Flaky(), PrecisionConfig())
    for _ in range(3):
        with pytest.raises(ValueError):
            model(torch.randn(2, 4))
        assert not torch.is_autocast_enabled("cpu")
    model.fail = False
    assert model(torch.randn(2, 4)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")
    assert model.lin(torch.randn(2, 4)).dtype == torch.float32  # a submodule alone is not autocast


def test_nested_models_each_with_precision_and_kwargs_calls():
    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = bl.compress_(nn.Sequential(nn.Linear(4, 4)), PrecisionConfig(dtype="bf16"))
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(self.inner(x)), torch.is_autocast_enabled("cpu")

    model = bl.compress_(Outer(), PrecisionConfig(dtype="bf16"))
    out, inside = model(x=torch.randn(2, 4))  # keyword input: the device comes from the parameters
    assert inside and out.dtype == torch.bfloat16 and not torch.is_autocast_enabled("cpu")
    plain = Outer()
    plain.load_state_dict(model.state_dict())
    # inner alone, outside the outer's context
    assert model.inner(torch.randn(2, 4)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


def test_precision_copies_are_independent_and_pickle():
    model = bl.compress_(nn.Sequential(nn.Linear(4, 4)), [PruneConfig(amount=0.5), PrecisionConfig()])
    twin = copy.deepcopy(model)
    bl.compress_(twin, PrecisionConfig(dtype="fp32"))
    x = torch.randn(2, 4)
    assert twin(x).dtype == torch.float32 and model(x).dtype == torch.bfloat16
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert loaded(x).dtype == torch.bfloat16
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    bl.compress_(loaded, PrecisionConfig(dtype="fp32"))
    assert loaded(x).dtype == torch.float32 and model(x).dtype == torch.bfloat16
