"""The benchmark cases of the performance issue: one layer, forward + backward, batch 32."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerCase", "default_cases"]


@dataclass(frozen=True)
class LayerCase:
    """One convolution layer to time.

    Attributes:
        ndim: 1 or 2 spatial dimensions.
        batch, channels: batch size and Cin = Cout.
        size: input length (1D) or height = width (2D).
        kernel: kernel length / side; padding keeps the size ("same" for odd kernels).
        rate: compression rate of the band-limited layer.
    """

    ndim: int
    batch: int
    channels: int
    size: int
    kernel: int
    rate: float

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def name(self) -> str:
        shape = f"{self.size}" if self.ndim == 1 else f"{self.size}x{self.size}"
        return f"{self.ndim}D C={self.channels} {shape} k={self.kernel} rate={self.rate}"


def default_cases(batch: int = 32) -> list[LayerCase]:
    """The table of the performance targets."""
    cases = [LayerCase(2, batch, 64, 32, 3, r) for r in (0.0, 0.5, 0.85)]
    cases += [LayerCase(2, batch, 64, 32, k, 0.0) for k in (5, 7, 11)]
    cases.append(LayerCase(1, batch, 128, 1024, 65, 0.0))
    return cases
