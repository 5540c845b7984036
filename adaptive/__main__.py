"""``python -m adaptive monitor ...`` / ``python -m adaptive plot ...`` (see adaptive.cli)."""

from __future__ import annotations

if __name__ == "__main__":
    import sys

    from adaptive.cli import main

    sys.exit(main())
