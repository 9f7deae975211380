"""Spectral checkpoints: activations recomputed in backward from band-limited layers' spectra.

:mod:`.tape` records a forward pass (its ops: :mod:`.ops`) and replays it; :mod:`.model` applies
it to a model.
"""

from .model import current_tape, install, recording, uninstall
from .tape import MIN_RECOMPUTED_BYTES, Tape

__all__ = ["MIN_RECOMPUTED_BYTES", "Tape", "current_tape", "install", "recording", "uninstall"]
