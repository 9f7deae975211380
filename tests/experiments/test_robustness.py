"""Noise, attacks and input band-limiting against references: NumPy's FFT and a model whose
adversarial budget is known in closed form."""

import numpy as np
import pytest
import torch
from torch import nn

from bandlimit.experiments.attacks import attack, band_limit_input, noise_accuracy, recovery
from bandlimit.functional.band import band_for_size


class _MeanSign(nn.Module):
    """Class 0 when the mean pixel is positive: an Linf step of epsilon moves the mean by epsilon,
    so FGSM fools a sample exactly when epsilon > |mean|."""

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([m, -m], 1) * 10


def test_fgsm_needs_exactly_the_mean_as_budget():
    torch.manual_seed(0)
    x = torch.randn(40, 1, 4, 4) * 0.1 + torch.linspace(-0.5, 0.5, 40)[:, None, None, None]
    y = (x.flatten(1).mean(1) <= 0).long()
    epsilons = [0.05, 0.1, 0.2, 0.3, 0.4, 0.6]
    result = attack(_MeanSign(), x, y, "FGSM (Linf)", epsilons, (-3.0, 3.0), steps=1)
    needed = [min([e for e in epsilons if e > abs(m)], default=np.inf) for m in x.flatten(1).mean(1).tolist()]
    assert result["median_size"] == np.median(needed) and result["attacked"] == 40
    # Accuracy at each budget: the samples with |mean| >= epsilon stay correct.
    means = x.flatten(1).mean(1).abs()
    assert result["accuracy"] == pytest.approx([float((means >= e).float().mean()) for e in epsilons])


def test_minimizing_attacks_report_l2_sizes():
    torch.manual_seed(1)
    x = torch.randn(8, 1, 4, 4) * 0.1 + 0.3
    y = torch.zeros(8, dtype=torch.long)
    result = attack(_MeanSign(), x, y, "Carlini-Wagner (L2)", [], (-3.0, 3.0), steps=50)
    # The smallest L2 change of the mean by m over 16 pixels is m * sqrt(16) = 4 m.
    smallest = 4 * float(x.flatten(1).mean(1).median())
    assert result["fooled"] == 1.0 and smallest * 0.95 <= result["median_size"] <= smallest * 1.3
    # Half the budget finds no smaller perturbations than the minimum either.
    assert result["median_size_half_budget"] >= smallest * 0.95


def test_noise_at_zero_is_the_clean_accuracy_and_noise_hurts():
    x = torch.randn(200, 1, 4, 4) * 0.05 + torch.where(torch.rand(200) < 0.5, 0.2, -0.2)[:, None, None, None]
    y = (x.flatten(1).mean(1) <= 0).long()
    out = noise_accuracy(_MeanSign(), x, y, [0.0, 3.0])
    assert out["gaussian"][0] == out["uniform"][0] == 1.0
    assert out["gaussian"][1] < 0.9 and out["uniform"][1] < 0.9


@pytest.mark.parametrize("rate", [0.0, 0.5, 0.85])
def test_band_limited_input_is_numpys_low_pass(rate):
    x = torch.randn(2, 3, 11, 12, dtype=torch.float64)
    band = band_for_size((11, 12), rate)
    n_h, n_w = band.grid
    spectrum = np.fft.rfft2(x.numpy(), s=(n_h, n_w))
    mask = np.zeros(spectrum.shape[-2:], dtype=bool)
    mask[np.ix_(list(band.rows), range(band.cols))] = True
    expected = np.fft.irfft2(np.where(mask, spectrum, 0), s=(n_h, n_w))[..., :11, :12]
    np.testing.assert_allclose(band_limit_input(x, rate).numpy(), expected, atol=1e-10)


def test_recovery_reports_accuracy_per_rate():
    torch.manual_seed(2)
    x = torch.randn(16, 1, 8, 8) * 0.1 + 0.2
    y = torch.zeros(16, dtype=torch.long)
    result = recovery(_MeanSign(), x, y, 0.3, (-3.0, 3.0), steps=3, rates=[0.0, 0.5])
    assert result["adversarial"][0] < 1.0 and result["clean"][0] == 1.0 and len(result["adversarial"]) == 2


def test_boundary_attack_starts_from_another_class_and_never_beats_the_minimum():
    torch.manual_seed(3)
    x = torch.randn(8, 1, 4, 4) * 0.1 + torch.tensor([0.3, -0.3] * 4)[:, None, None, None]
    y = (x.flatten(1).mean(1) <= 0).long()
    result = attack(_MeanSign(), x, y, "boundary (L2, decision-based)", [], (-3.0, 3.0), steps=5)
    minimum = 4 * float(x.flatten(1).mean(1).abs().min())  # no L2 perturbation smaller than 4 |mean| fools it
    assert result["fooled"] == 1.0 and result["median_size"] >= minimum * 0.999
    # The second half of the budget goes on from the first's adversarials: it never ends farther.
    assert result["median_size"] <= result["median_size_half_budget"]


def test_sizes_pair_samples_and_skip_the_misclassified():
    x = torch.tensor([0.3, -0.3, 0.2, 0.5]).repeat_interleave(16).view(4, 1, 4, 4)
    y = torch.tensor([0, 0, 0, 0])  # the second sample's mean is negative: misclassified
    result = attack(_MeanSign(), x, y, "Carlini-Wagner (L2)", [], (-3.0, 3.0), steps=50)
    assert result["sizes"][1] is None and result["attacked"] == 3
    # The L2 size is 4 |mean| on a flat 4x4 image: the samples keep their order.
    assert result["sizes"][0] > result["sizes"][2] and result["sizes"][3] > result["sizes"][0]
    assert result["sizes"][3] == pytest.approx(2.0, rel=0.1)
