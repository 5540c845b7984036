"""Reading what Spark's file sink committed, without Spark.

The file sink writes each micro-batch's part files and then records them in the log
``<dir>/_spark_metadata`` (one file per batch, compacted every 10 batches into ``N.compact``).
A batch interrupted by a crash may leave part files that the log never lists; Spark's readers
(``spark.read.json(dir)``) skip them, and so does :func:`committed_files`. This is what makes
the sink exactly-once: read the directory through its log, never by listing it.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote, urlparse


def committed_files(directory: str) -> list[str]:
    """The part files of ``directory`` that its file-sink log lists as committed.

    Examples
    --------
    >>> import tempfile
    >>> committed_files(tempfile.mkdtemp())      # nothing committed yet
    []
    """
    log = os.path.join(directory, "_spark_metadata")
    if not os.path.isdir(log):
        return []
    names = [n for n in os.listdir(log) if not n.startswith(".")]
    batches = [n for n in names if n.isdigit() or n.endswith(".compact")]
    compact = [int(n.split(".")[0]) for n in batches if n.endswith(".compact")]
    start = max(compact) if compact else -1
    todo = ([f"{start}.compact"] if compact else []) + sorted(
        (n for n in batches if n.isdigit() and int(n) > start), key=int)
    files: list[str] = []
    for name in todo:
        with open(os.path.join(log, name), encoding="utf-8") as f:
            lines = f.read().splitlines()
        if not lines or lines[0] != "v1":
            raise ValueError(f"{os.path.join(log, name)!r} is not a version 1 file-sink log")
        for line in lines[1:]:
            entry = json.loads(line)
            if entry.get("action") == "add":
                url = urlparse(entry["path"])  # file:///dir/part-...json, percent-encoded
                files.append(unquote(url.path) if url.scheme in ("", "file")
                             else entry["path"])
    return files


def read_records(directory: str) -> list[dict[str, Any]]:
    """Every JSON record of the committed files of a json file sink, in log order."""
    out: list[dict[str, Any]] = []
    for path in committed_files(directory):
        with open(path, encoding="utf-8") as f:
            out.extend(json.loads(line) for line in f if line.strip())
    return out
