"""``python -m robust``: see :mod:`robust.cli`."""

from __future__ import annotations

import sys

from robust.cli import main

if __name__ == "__main__":
    sys.exit(main())
