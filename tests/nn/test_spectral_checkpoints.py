"""Spectral checkpoints: the same gradients, BatchNorm statistics and dropout masks as without
them, on the registry's models and on third-party-style blocks; less memory saved for backward."""

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
from bandlimit import recompute
from bandlimit.memory import count_saved_bytes
from bandlimit.models import create_model, list_models, model_ndim


def _pair(model: nn.Module, rate: float = 0.5) -> tuple[nn.Module, nn.Module]:
    plain = copy.deepcopy(model)
    bl.compress_(plain, bl.BandLimitConfig(rate=rate))
    checkpointed = copy.deepcopy(model)
    bl.compress_(checkpointed, bl.BandLimitConfig(rate=rate, checkpoint=True))
    return plain, checkpointed


def _step(model: nn.Module, x: torch.Tensor, seed: int = 0) -> tuple[list[torch.Tensor], int]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same dropout masks in both models
    with count_saved_bytes() as saved:
        out = model(x)
    (out.float().square().mean() if out.dim() > 1 else out.sum()).backward()
    return [p.grad.clone() if p.grad is not None else torch.zeros(()) for p in model.parameters()], saved.total


def _assert_same_training(model: nn.Module, x: torch.Tensor, steps: int = 2, rate: float = 0.5) -> tuple[int, int]:
    """Gradients and buffers agree over a few SGD steps; returns the bytes each saved in the first."""
    plain, checkpointed = _pair(model, rate)
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.01) for m in (plain, checkpointed)]
    saved = []
    for step in range(steps):
        (ga, sa), (gb, sb) = _step(plain, x, step), _step(checkpointed, x, step)
        saved.append((sa, sb))
        for a, b in zip(ga, gb):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        for opt in optimizers:
            opt.step()
    for (name, a), b in zip(plain.state_dict().items(), checkpointed.state_dict().values()):
        assert torch.equal(a, b), name  # BatchNorm statistics updated once per step, identically
    return saved[0]


@pytest.mark.parametrize("name", list_models())
def test_registry_models(name):
    kwargs = {"fcn": {"widths": [8, 16, 8]}, "resnet18": {"width": 8}, "small_resnet": {"width": 8}}.get(name, {})
    torch.manual_seed(0)
    model = create_model(name, 3, 5, **kwargs).double()
    spatial = (64,) if model_ndim(name) == 1 else (16, 16)
    plain, checkpointed = _assert_same_training(model, torch.randn(4, 3, *spatial, dtype=torch.float64))
    if name != "lenet":  # LeNet's small maps fall under the recompute threshold
        assert checkpointed < plain


# Third-party-style blocks, written the way model zoos write them: functional calls, in-place
# ops on conv outputs, residual sums, concatenation, depthwise and grouped convs, dropout.
class PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out += shortcut
        return out


class BasicBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class InvertedResidual(nn.Module):  # MobileNetV2
    def __init__(self, c: int, expand: int) -> None:
        super().__init__()
        hidden = c * expand
        self.conv = nn.Sequential(
            nn.Conv2d(c, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c, 1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class ShuffleUnit(nn.Module):  # ShuffleNet: grouped 1x1, channel shuffle by view/transpose, depthwise 3x3
    def __init__(self, c: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        self.conv1, self.bn1 = nn.Conv2d(c, c, 1, groups=groups, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        b, c, h, w = out.shape
        out = out.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)
        return F.relu(x + self.bn2(self.conv2(out)))


class Inception(nn.Module):  # GoogLeNet: branches concatenated, max pooling
    def __init__(self, c: int) -> None:
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.BatchNorm2d(4), nn.ReLU(True))
        self.b2 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.ReLU(True), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(True))
        self.b3 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 4, 1), nn.ReLU(True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x)], 1)


class SqueezeExcite(nn.Module):  # EfficientNet / RegNet: SiLU, squeeze-and-excitation, dropout
    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 5, padding=2, groups=c, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.fc1, self.fc2 = nn.Conv2d(c, 4, 1), nn.Conv2d(4, c, 1)
        self.drop = nn.Dropout(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.silu(self.bn(self.dw(x)))
        scale = torch.sigmoid(self.fc2(F.silu(self.fc1(F.adaptive_avg_pool2d(out, 1)))))
        return x + self.drop(out * scale)


def _net(*blocks: nn.Module, c: int = 8) -> nn.Module:
    torch.manual_seed(0)
    stem = [nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
    head = [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(blocks[-1].out_channels if hasattr(blocks[-1], "out_channels") else c, 5),
    ]
    return nn.Sequential(*stem, *blocks, *head).double()


BLOCKS = {
    "preact": lambda: _net(PreActBlock(8, 8, 1), PreActBlock(8, 8, 2), PreActBlock(8, 8, 1)),
    "resnet": lambda: _net(BasicBlock(8), BasicBlock(8)),
    "mobilenetv2": lambda: _net(InvertedResidual(8, 4), InvertedResidual(8, 2)),
    "shufflenet": lambda: _net(ShuffleUnit(8, 2), ShuffleUnit(8, 4)),
    "googlenet": lambda: _net(Inception(8), nn.Conv2d(12, 8, 1)),
    "efficientnet": lambda: _net(SqueezeExcite(8), SqueezeExcite(8)),
    "vgg": lambda: _net(
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(True),
        nn.MaxPool2d(2),
        nn.Dropout(0.5),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(True),
    ),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_third_party_style_blocks(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these needs a fallback
        plain, checkpointed = _assert_same_training(BLOCKS[name](), torch.randn(4, 3, 24, 24, dtype=torch.float64))
    assert checkpointed < plain


def test_1d_blocks_with_functional_calls_and_in_place_sums():
    class Block1d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv1d(4, 8, 7, padding=3), nn.Conv1d(8, 4, 5, padding=2, bias=False)
            self.bn = nn.BatchNorm1d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = F.relu(self.bn(self.conv1(x)), inplace=True)
            out = self.conv2(out)
            out += x
            return F.gelu(out).mean(-1)

    torch.manual_seed(0)
    plain, checkpointed = _assert_same_training(Block1d().double(), torch.randn(4, 4, 200, dtype=torch.float64))
    assert checkpointed < plain


def test_rate_zero_and_high_rates():
    for rate in (0.0, 0.85):
        _assert_same_training(BLOCKS["resnet"](), torch.randn(2, 3, 20, 20, dtype=torch.float64), rate=rate)


def test_random_noise_is_kept_and_the_sum_recomputed():
    class Noisy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.conv(x)
            out = out + 0.1 * torch.randn_like(out)  # the noise is kept, the sum recomputed with it
            return self.bn(out).relu().sum((2, 3))

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same_training(Noisy().double(), torch.randn(2, 3, 24, 24, dtype=torch.float64))


def test_an_op_that_cannot_be_replayed_falls_back_with_a_warning_naming_the_layer():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.RReLU(), nn.BatchNorm2d(8), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    ).double()  # a random activation: its output (BatchNorm's saved input) cannot be recomputed
    with pytest.warns(UserWarning, match=r"spectral checkpoints: layer '1' saves a \(2, 8, 24, 24\) result of"):
        _assert_same_training(model, torch.randn(2, 3, 24, 24, dtype=torch.float64))


def test_eval_and_no_grad_record_nothing(monkeypatch):
    model = _pair(BLOCKS["resnet"]())[1]
    tapes = []
    monkeypatch.setattr(recompute.Tape, "anchor", lambda self, *a: tapes.append(self) or 0)
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        model(x)
    model.eval()
    model(x).sum().backward()
    assert tapes == []
    model.train()
    model(x)
    assert tapes


def test_turning_checkpoints_off_and_restoring_remove_the_hooks():
    model = BLOCKS["resnet"]()
    bl.compress_(model, bl.BandLimitConfig(rate=0.5, checkpoint=True))
    assert hasattr(model, recompute.model._HOOKS)
    bl.compress_(model, bl.BandLimitConfig(rate=0.5))
    assert not hasattr(model, recompute.model._HOOKS)
    bl.compress_(model, bl.BandLimitConfig(rate=0.5, checkpoint=True))
    bl.restore_(model)
    assert not hasattr(model, recompute.model._HOOKS)


def test_models_with_checkpoints_can_be_copied_and_pickled(tmp_path):
    model = BLOCKS["resnet"]()
    bl.compress_(model, bl.BandLimitConfig(rate=0.5, checkpoint=True))
    torch.save(model, tmp_path / "model.pt")
    for other in (copy.deepcopy(model), torch.load(tmp_path / "model.pt", weights_only=False)):
        torch.manual_seed(0)
        _assert_same_training(other, torch.randn(2, 3, 16, 16, dtype=torch.float64), steps=1)


def test_a_second_backward_through_the_same_graph_is_refused_clearly():
    model = BLOCKS["resnet"]()
    bl.compress_(model, bl.BandLimitConfig(rate=0.5, checkpoint=True))
    loss = model(torch.randn(2, 3, 16, 16, dtype=torch.float64)).square().sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="needed after its band-limited layer's backward"):
        loss.backward()
