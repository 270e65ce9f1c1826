"""``python -m kchip`` runs the command-line interface."""

import sys

from kchip.cli import main

sys.exit(main())
