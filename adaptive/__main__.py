"""``python -m adaptive <command> ...``: each command lives in its own module, imported only
when it runs (the monitor's commands never import torch).

Commands: ``monitor`` and ``plot`` (:mod:`adaptive.monitor.cli`).
"""

from __future__ import annotations

import importlib
import sys

# command -> (module whose main(argv) runs it, one line of help)
COMMANDS = {
    "monitor": ("adaptive.monitor.cli", "run drift detectors over sensor readings"),
    "plot": ("adaptive.monitor.cli", "timeline plot of readings with alert markers"),
    "spark": ("adaptive.spark.cli", "the monitor as a Spark Structured Streaming job"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command's module; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:
        return importlib.import_module(COMMANDS[argv[0]][0]).main(argv)
    usage = "usage: python -m adaptive {" + ",".join(COMMANDS) + "} ...\n\ncommands:\n" + "".join(
        f"  {name:<10} {help_}\n" for name, (_, help_) in COMMANDS.items()
    ) + "\nRun `python -m adaptive <command> --help` for a command's options."
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    print(usage, file=sys.stderr)
    if argv:
        print(f"python -m adaptive: error: unknown command {argv[0]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
