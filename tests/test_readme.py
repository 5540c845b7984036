"""Every Python block of the README and of the docs' Markdown pages runs as shown.

Conventions for a fenced ```` ```python ```` block (the reader sees them too):

- a block whose first line is a comment starting with ``# continues`` (for example
  ``# continues the block above``) runs in the namespace left by the block before it in the same
  file; any other block starts from an empty namespace;
- a block whose first line starts with ``# not run:`` is skipped, and the rest of that line says
  why (a cluster, a broker, a GPU): the test reports it as a skip with that reason.

Blocks run in a temporary working directory, so files they write (checkpoints, plots) vanish.
The README's and the getting-started page's extras tables must list exactly the extras of
``pyproject.toml``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
PAGES = [p for p in PAGES if "_build" not in p.parts and "_inventories" not in p.parts]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
CONTINUES, NOT_RUN = "# continues", "# not run:"


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(first line number of the code, code)`` of every ```python block of ``path``."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def chains(path: Path) -> list[list[tuple[int, str]]]:
    """The blocks of ``path`` grouped into runs: a ``# continues`` block joins the run before."""
    runs: list[list[tuple[int, str]]] = []
    for line, code in python_blocks(path):
        if code.lstrip().startswith(CONTINUES):
            if not runs:
                raise ValueError(f"{path.name}:{line}: the first block cannot continue another")
            runs[-1].append((line, code))
        else:
            runs.append([(line, code)])
    return runs


CASES = [
    pytest.param(path, run, id=f"{path.relative_to(ROOT)}:{run[0][0]}")
    for path in PAGES
    for run in chains(path)
]


def test_the_readme_has_python_blocks():
    assert len(python_blocks(ROOT / "README.md")) >= 3


@pytest.mark.parametrize(("path", "run"), CASES)
def test_block_runs(path, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(sys, "argv", [str(path)])
    first = run[0][1].lstrip()
    if first.startswith(NOT_RUN):
        pytest.skip(first.splitlines()[0][len(NOT_RUN):].strip() or "no reason given")
    namespace = {"__name__": "__readme__"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the blocks are small; threads only contend on a loaded machine
    try:
        for line, code in run:
            # pad with blank lines so that a traceback points at the page's own line numbers
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    finally:
        torch.set_num_threads(threads)


def _extras_in_table(path: Path) -> set[str]:
    """Names in the first column of the Markdown table whose header cell is ``extra``."""
    names, in_table = set(), False
    for row in path.read_text().splitlines():
        row = row.strip()
        cells = [c.strip() for c in row.strip("|").split("|")] if row.startswith("|") else []
        if cells and cells[0] == "extra":
            in_table = True
        elif in_table and not cells:
            break
        elif in_table and cells[0].startswith("`"):
            names.add(cells[0].strip("`[]"))
    return names


@pytest.mark.parametrize("page", ["README.md", "docs/getting_started.md"])
def test_every_extra_is_documented(page):
    with open(ROOT / "pyproject.toml", "rb") as f:
        extras = set(tomllib.load(f)["project"]["optional-dependencies"])
    assert _extras_in_table(ROOT / page) == extras
