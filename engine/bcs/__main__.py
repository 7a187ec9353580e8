"""``python -m bcs``: the same entry point as the ``bcs`` console script."""

import sys

from bcs.cli import main

sys.exit(main())
