"""``python -m bandlimit`` runs the command line (also under ``torchrun -m bandlimit``)."""

import sys

from .cli import main

sys.exit(main())
