"""Models written the way third-party code is (torchvision-like VGG, MobileNet blocks, a
convolution read by both an addition and a concatenation, functional calls and views in
forward), and what the compression tests do to them. Shared by the tests of CSR execution,
precision, pruning and SSL removal (pytest puts tests/ on the import path: pyproject.toml)."""

import torch
import torch.nn.functional as F
from torch import nn

from bandlimit.compress import remove_zero_channels_


def sparsify_(module: nn.Module, threshold: float = 0.1) -> None:
    """Zero the weights smaller than ``threshold`` in magnitude (of parameters with 2+ dimensions)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                p[p.abs() < threshold] = 0


def removal_keeps_outputs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """``remove_zero_channels_(model, x)`` in eval mode, checking that the outputs on ``x`` stay the
    same; the channels it removed, by layer."""
    model.eval()
    with torch.no_grad():
        before = model(x)
    removed = remove_zero_channels_(model, x)
    with torch.no_grad():
        after = model(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    return removed


class VGGish(nn.Module):
    """torchvision-VGG-like: features Sequential, functional relu, flatten, classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Linear(8 * 2 * 2, 16), nn.ReLU(True), nn.Dropout(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = F.relu(x)
        return self.classifier(torch.flatten(x, 1))


class MobileBlock(nn.Module):
    """MobileNet-ish: pointwise expand, depthwise 3x3, pointwise project, residual add."""

    def __init__(self, c: int = 6, e: int = 12) -> None:
        super().__init__()
        self.expand = nn.Conv2d(c, e, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(e)
        self.dw = nn.Conv2d(e, e, 3, padding=1, groups=e, bias=False)
        self.bn2 = nn.BatchNorm2d(e)
        self.project = nn.Conv2d(e, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.expand(x)))
        y = F.relu6(self.bn2(self.dw(y)))
        return x + self.bn3(self.project(y))


class AddAndConcat(nn.Module):
    """A conv whose output goes both to an addition and to a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        s = a + self.b(x)
        return self.head(torch.cat([a, s], 1)).mean((2, 3))


class ViewMean(nn.Module):
    """Calls F.relu, x.mean((2, 3)) and x.view(x.size(0), -1) in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3)
        self.c2 = nn.Conv2d(6, 6, 3)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.c1(x))
        x = F.relu(self.c2(x))
        x = x.mean((2, 3))
        return self.fc(x.view(x.size(0), -1))


def random_bn_(model: nn.Module) -> None:
    """Batch norms with running statistics and affine parameters away from identity (seeded), so
    that a zero channel's constant is not zero after them."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            if m.affine:
                with torch.no_grad():
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)
