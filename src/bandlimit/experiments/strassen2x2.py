"""Rediscovering Strassen's algorithm: the 2x2 matrix product learned as a sum-product network
with ``r`` ternary products (StrassenNets, Tschannen et al. 2018, Section 3).

The network computes ``vec(C) = W_c [(W_a vec(A)) * (W_b vec(B))]`` with ``W_a, W_b`` of shape
``(r, 4)`` and ``W_c`` of shape ``(4, r)``: ``r`` multiplications of sums of entries. Its
expected squared error over matrices with independent standard normal entries is, in closed
form, the squared Frobenius distance between the network's tensor
``sum_r W_a[r, a] W_b[r, b] W_c[c, r]`` and the matrix product's tensor, so training minimises
that directly: Adam on full-precision weights, then a growing pull towards {-1, 0, 1}
(``w^2 (w^2 - 1)^2``), then rounding. A run succeeds when the rounded network is exact: its
tensor equals the product's, checked in integers, and on random matrices. With ``r = 7``
every exact algorithm is Strassen's up to the symmetries of the product (de Groote 1978), so a
success rediscovers it; with ``r = 8`` the schoolbook product is one of the solutions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

__all__ = ["Algorithm", "learn", "matmul_tensor", "rediscover"]


def matmul_tensor(n: int = 2) -> torch.Tensor:
    """``T[a, b, c] = 1`` where ``vec(A)[a] * vec(B)[b]`` is a term of ``vec(A @ B)[c]`` (row-major
    ``vec``), ``(n^2, n^2, n^2)`` float64."""
    t = torch.zeros(n * n, n * n, n * n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            for k in range(n):
                t[i * n + k, k * n + j, i * n + j] = 1
    return t


def _tensor(wa: torch.Tensor, wb: torch.Tensor, wc: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ra,rb,cr->abc", wa, wb, wc)


@dataclass(frozen=True)
class Algorithm:
    """An exact bilinear algorithm: integer ``W_a, W_b`` ``(r, 4)`` and ``W_c`` ``(4, r)``."""

    wa: torch.Tensor
    wb: torch.Tensor
    wc: torch.Tensor
    seed: int

    @property
    def used(self) -> list[int]:
        """The products that take part: a non-zero row of ``W_a`` and of ``W_b`` and a non-zero
        column of ``W_c`` (training may leave some unused)."""
        return [r for r in range(self.wa.shape[0]) if self.wa[r].any() and self.wb[r].any() and self.wc[:, r].any()]

    @property
    def products(self) -> int:
        """The multiplications it performs."""
        return len(self.used)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a @ b`` for ``(..., 2, 2)`` matrices, with :attr:`products` multiplications."""
        m = (a.flatten(-2) @ self.wa.T.to(a.dtype)) * (b.flatten(-2) @ self.wb.T.to(b.dtype))
        return (m @ self.wc.T.to(a.dtype)).unflatten(-1, (2, 2))

    def is_exact(self) -> bool:
        """Whether its tensor is the matrix product's, in integer arithmetic."""
        return bool(torch.equal(_tensor(self.wa, self.wb, self.wc).round().long(), matmul_tensor().long()))

    def describe(self) -> str:
        """The algorithm in the usual notation: ``M1 = (A11 + A22)(B11 + B22)``, ``C11 = M1 + ...``."""
        used = self.used
        products = [f"M{i + 1}" for i in range(len(used))]
        lines = [
            f"{m} = {_grouped(_combination(self.wa[r].tolist(), 'A', _ENTRIES))} "
            f"{_grouped(_combination(self.wb[r].tolist(), 'B', _ENTRIES))}"
            for m, r in zip(products, used)
        ]
        lines += [f"C{e} = {_combination(self.wc[c, used].tolist(), '', products)}" for c, e in enumerate(_ENTRIES)]
        return "\n".join(lines)


_ENTRIES = ("11", "12", "21", "22")


def _combination(coefficients: list[int], letter: str, names: Iterable[str]) -> str:
    """``A11 - A22`` from the coefficients ``[1, 0, 0, -1]``."""
    terms = [(v, f"{letter}{name}") for v, name in zip(coefficients, names) if v]
    if not terms:
        return "0"
    text = ("-" if terms[0][0] < 0 else "") + terms[0][1]
    return text + "".join(f" {'-' if v < 0 else '+'} {name}" for v, name in terms[1:])


def _grouped(text: str) -> str:
    return f"({text})" if " " in text or text.startswith("-") else text


def learn(rank: int = 7, seed: int = 0, steps: int = 4000, lr: float = 0.02) -> Algorithm | None:
    """One training run from a seeded start; the rounded algorithm if it is exact, else None."""
    generator = torch.Generator().manual_seed(seed)
    weights = [
        (0.7 * torch.randn(shape, generator=generator, dtype=torch.float64)).requires_grad_()
        for shape in ((rank, 4), (rank, 4), (4, rank))
    ]
    target = matmul_tensor()
    optimizer = torch.optim.Adam(weights, lr=lr)
    settle = steps // 4  # fit in full precision first, then pull towards {-1, 0, 1} ever harder
    for step in range(steps):
        pull = 0.0 if step < settle else 1e-3 * 1e3 ** ((step - settle) / (steps - settle))
        fit = (_tensor(*weights) - target).square().sum()
        ternary = sum((w.square() * (w.square() - 1).square()).sum() for w in weights)
        optimizer.zero_grad()
        (fit + pull * ternary).backward()
        optimizer.step()
    wa, wb, wc = (w.detach().round().clamp(-1, 1).long() for w in weights)
    algorithm = Algorithm(wa, wb, wc, seed)
    return algorithm if algorithm.is_exact() else None


def rediscover(
    rank: int = 7, seeds: Iterable[int] = range(20), steps: int = 4000, log: Callable[[str], None] = print
) -> tuple[Algorithm | None, int]:
    """Train from each seed in turn until one run is exact.

    Returns:
        The algorithm (None if no seed succeeded) and the number of runs tried.
    """
    tried = 0
    for seed in seeds:
        tried += 1
        found = learn(rank, seed, steps)
        log(f"seed {seed}: {'exact' if found else 'not exact'}")
        if found is not None:
            return found, tried
    return None, tried
