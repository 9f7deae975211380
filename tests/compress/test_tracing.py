"""A model torch.fx cannot follow is a user's model, not a bug: one clear error; an error of
another kind from inside the forward keeps its type (a bug is not turned into a message)."""

import pytest
import torch
from torch import nn

from bandlimit.compress.tracing import trace
from bandlimit.errors import BandlimitError


class _Branching(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        return self.conv(x) if x.sum() > 0 else -self.conv(x)  # control flow on a tensor


class _Looping(nn.Module):
    def forward(self, x):
        return sum(x[i] for i in range(x.shape[0]))  # range() of a traced size


class _Broken(nn.Module):
    def forward(self, x):
        raise KeyError("a bug in the model")


@pytest.mark.parametrize("model", [_Branching(), _Looping()], ids=["control flow", "range"])
def test_an_untraceable_forward_is_one_user_error(model):
    with pytest.raises(BandlimitError, match="cannot trace the model with torch.fx"):
        trace(model)


def test_other_errors_keep_their_type():
    with pytest.raises(KeyError, match="a bug in the model"):
        trace(_Broken())
    assert isinstance(trace(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())), torch.fx.Graph)
