"""``python -m console`` runs the same entry point as the ``remsvc-console`` script."""

import sys

from .cli import main

sys.exit(main())
