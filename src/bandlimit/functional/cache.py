"""A layer's filter band kept between inference calls, and when it is still valid."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["FilterCache"]


class FilterCache:
    """One layer's filter band (conjugated, ``(F, Cout, Cin_g)`` complex), kept between calls.

    Valid while the weight is the same tensor at the same version (every in-place change,
    such as an optimizer step or ``load_state_dict``, bumps the version) and the band, dilation
    and dtype are unchanged. Like autograd, it does not see changes made through
    ``weight.data``; :meth:`clear` drops it. Band-limited modules keep one and use it in eval
    mode and under ``torch.no_grad()``.
    """

    def __init__(self) -> None:
        self.clear()

    # A copy or pickle of the layer (copy.deepcopy, torch.save of a module) starts empty: the
    # weak reference cannot be pickled, and the copy's weight is another tensor anyway.
    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.clear()

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached filter band (0 if none)."""
        return 0 if self._band is None else self._band.numel() * self._band.element_size()

    def clear(self) -> None:
        """Drop the cached filter band."""
        self._weight: weakref.ref[torch.Tensor] | None = None
        self._key: tuple[Any, ...] = ()
        self._band: torch.Tensor | None = None

    def get(self, weight: torch.Tensor, key: tuple[Any, ...], build: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The filter band of ``weight`` for ``key``, from ``build()`` unless cached."""
        full_key = (weight.data_ptr(), weight._version, *key)
        if self._band is None or self._weight is None or self._weight() is not weight or self._key != full_key:
            self.clear()  # the old band goes before the new one is built
            with torch.no_grad():
                self._band = build()
            self._weight, self._key = weakref.ref(weight), full_key
        assert self._band is not None
        return self._band
