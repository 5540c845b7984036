"""`make demo`: the main jobs of robust-adaptive on embedded data, one after the other.

1. robust: clean, Fast-AT and PGD-AT training on scikit-learn's bundled digits, evaluated under
   PGD-50 with restarts and AutoAttack, with an accuracy-vs-epsilon plot; then early-stopped
   PGD-AT of a model with its normalisation inside on Fashion-MNIST (when installed).
2. adaptive: a simulated multi-sensor production stream with injected drifts, a PyTorch model
   learning online with and without drift-triggered adaptation.
3. adaptive: the sensor monitor on a simulated plant CSV, alerts and a timeline plot.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import time

SECTIONS = (
    ("robust: adversarial training on digits and Fashion-MNIST", "robust.demo", "robust"),
    ("adaptive: online adaptation on a simulated production line", "adaptive.demos.online",
     "online"),
    ("adaptive: sensor monitor on a simulated plant", "adaptive.demos.monitor", "monitor"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo", help="output folder (plots, JSON, CSV)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    for title, module, sub in SECTIONS:
        print(f"\n=== {title} ===", flush=True)
        start = time.perf_counter()
        table = importlib.import_module(module).run_demo(out / sub)
        if table:
            print(table)
        print(f"[{sub}: {time.perf_counter() - start:.1f} s, outputs in {out / sub}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
