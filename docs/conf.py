"""Sphinx configuration of the robust-adaptive documentation (``make docs``).

Built with warnings as errors (``-W``). Nothing is downloaded at build time: intersphinx reads
only the inventories vendored in ``docs/_inventories`` (see its README). The gallery runs the
scripts of ``examples/`` at build time; the API check at the end fails the build when a public
name of a documented package (its ``__all__``) has no entry in the API reference.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from sphinx.util import logging

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the checkout, not some other installed copy
os.environ.setdefault("MPLBACKEND", "Agg")

with open(ROOT / "pyproject.toml", "rb") as _f:
    _project = tomllib.load(_f)["project"]

# -- project ----------------------------------------------------------------------------------
project = "robust-adaptive"
author = "the robust-adaptive developers"
copyright = "the robust-adaptive developers, Apache-2.0"
release = _project["version"]  # the one place the version lives: pyproject.toml
version = ".".join(release.split(".")[:2])

# -- general ----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_inventories", "auto_examples/*.ipynb", "**/*.py.md5"]
default_role = "py:obj"

# -- API reference: autodoc + numpydoc ---------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource", "undoc-members": False}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "class"
numpydoc_show_class_members = False  # members come from autodoc's :members:, one entry each
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# -- cross-references: vendored inventories only (nothing downloaded) -------------------------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3.11", str(DOCS / "_inventories" / "python-3.11.inv")),
}
intersphinx_timeout = 1

# -- Markdown pages -----------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- gallery: examples/ run at build time -------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "reference_url": {},  # no remote documentation is consulted for links in examples
    "backreferences_dir": None,
    "write_computation_times": True,
}

# -- HTML -----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"robust-adaptive {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
html_last_updated_fmt = None

# -- every public name has an entry ------------------------------------------------------------
# Modules whose whole ``__all__`` must appear in the API reference (checked when the environment
# is complete; a missing name is a warning, hence an error under -W). A name counts as
# documented when the object it names has an entry under any of its public paths
# (``adaptive.ADWIN`` covers ``adaptive.drift.ADWIN``). The list of modules is the one that
# scripts/public_types.py checks the annotations of (make typecheck).


def _public_modules() -> tuple[str, ...]:
    path = ROOT / "scripts" / "public_types.py"
    spec = importlib.util.spec_from_file_location("public_types", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.MODULES)


API_MODULES = _public_modules()

_logger = logging.getLogger("robust_adaptive_docs")


def _resolve(dotted: str) -> object:
    """The object named ``package.module.attr`` (the longest importable module prefix)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _check_api_coverage(app, env) -> None:
    kinds = {"class", "exception", "function", "data", "attribute", "method"}
    documented = {
        id(_resolve(name))
        for name, entry in env.get_domain("py").objects.items()
        if entry.objtype in kinds
    }
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if id(getattr(module, name)) not in documented:
                _logger.warning("public name %s.%s has no entry in the API reference",
                                module_name, name)


def _module_sections_as_rubrics(app, what, name, obj, options, lines) -> None:
    """A module docstring's ``Title / -----`` sections become rubrics, not page sections.

    The family pages show each module's docstring (threat model, notes, references) above its
    classes; as real sections its "Examples" and "References" headings would fill the page's
    table of contents once per module.
    """
    if what != "module":
        return
    i = 0
    while i < len(lines) - 1:
        title, rule = lines[i].strip(), lines[i + 1].strip()
        if title and len(rule) == len(title) and set(rule) == {"-"}:
            lines[i : i + 2] = [f".. rubric:: {title}", ""]
        i += 1


_BARS = re.compile(r"\|([^|\s]|[^|\s][^|]*?[^|\s])\|")


def _absolute_values_as_text(app, what, name, obj, options, lines) -> None:
    """``|x|`` in a docstring is an absolute value, not a reST substitution (none is defined).

    Outside inline literals the bars are escaped, so ``(|seed| < 2**53)`` reads as written.
    """
    for i, line in enumerate(lines):
        if "|" in line:
            parts = line.split("``")
            parts[::2] = [_BARS.sub(r"\\|\1\\|", p) for p in parts[::2]]
            lines[i] = "``".join(parts)


def setup(app) -> None:
    app.connect("env-check-consistency", _check_api_coverage)
    # before numpydoc's own handler (priority 500)
    app.connect("autodoc-process-docstring", _module_sections_as_rubrics, priority=400)
    app.connect("autodoc-process-docstring", _absolute_values_as_text, priority=400)
