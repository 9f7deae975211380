"""Forward and backward passes of every registered model at small sizes."""

import pytest
import torch
from torch import nn

from bandlimit.models import create_model, list_models, model_ndim

# (in_channels, spatial size) per input dimensionality: RGB-like and single-channel inputs.
INPUTS = {
    1: [(3, (64,)), (1, (64,))],
    2: [(3, (32, 32)), (1, (28, 28))],
}
CASES = [(name, c, size) for name in list_models() for c, size in INPUTS[model_ndim(name)]]


@pytest.fixture(autouse=True)
def single_thread():
    """Run these small-batch passes on one thread.

    With batch 2 there is little to parallelise, and when other processes share the
    cores OpenMP's busy-waiting barriers made DenseNet's ~300 small ops take 10-20 s
    instead of 0.2 s. Restored afterwards so other test modules are unaffected.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("name", "in_channels", "size"), CASES, ids=lambda v: str(v))
def test_forward_backward(name, in_channels, size):
    torch.manual_seed(0)
    num_classes = 7
    model = create_model(name, in_channels, num_classes)
    model.train()
    x = torch.randn(2, in_channels, *size)

    out = model(x)
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()

    out.square().mean().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize("name", [n for n in list_models() if model_ndim(n) == 2])
def test_other_image_sizes_eval_mode(name):
    """Adaptive pooling lets models accept other sizes, here odd and non-square."""
    model = create_model(name, 3, 4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 21, 13)).shape == (1, 4)


@pytest.mark.parametrize("length", [17, 100])
def test_fcn_other_lengths(length):
    model = create_model("fcn", 2, 3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 2, length)).shape == (1, 3)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("resnet18", {"width": 8}),
        ("small_resnet", {"width": 4}),
        ("densenet121", {"growth_rate": 4}),
        ("fcn", {"widths": (8, 16, 8)}),
    ],
)
def test_width_kwargs(name, kwargs):
    model = create_model(name, 1, 3, **kwargs)
    size = (64,) if model_ndim(name) == 1 else (16, 16)
    assert model(torch.randn(2, 1, *size)).shape == (2, 3)


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_plain_convs(name):
    """Band-limiting swaps nn.Conv1d/nn.Conv2d modules, so there must be some, of the right dimension."""
    conv_type = {1: nn.Conv1d, 2: nn.Conv2d}[model_ndim(name)]
    convs = [m for m in create_model(name, 3, 10).modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    assert convs
    assert all(type(m) is conv_type for m in convs)
