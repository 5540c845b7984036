"""Build the sdist and the wheel, check them, and use the wheel from a fresh virtual environment.

``make wheel-check`` runs this with the project's interpreter (which has ``build`` and ``twine``
from the ``dist`` extra). Steps, each one a hard failure:

1. ``python -m build``: the sdist, then the wheel built *from the sdist* (what a user who
   installs from the sdist gets), into a temporary folder.
2. ``twine check --strict`` on both (metadata, the README as long description).
3. The wheel's file list: every ``.py`` file of the three packages in the source tree is in it,
   each package has its ``py.typed``, the licence is in the ``.dist-info``, nothing else (no
   tests, no benchmarks) is.
4. A fresh virtual environment (``--without-pip``) gets the wheel with ``pip --no-deps``. Its
   dependencies are *not* downloaded again (torch is a multi-GB CUDA build here): the closure of
   the wheel's own ``Requires-Dist`` (markers evaluated, extras excluded) is resolved against the
   distributions installed next to this interpreter, and only those distributions' files are
   exposed to the fresh environment, as symlinks in one folder named by a ``.pth`` file. So an
   import of anything the wheel does not declare fails there as it would for a user, and the
   source tree is never on the path (the editable install's finder is not carried over).
   ``pytest`` and ``hypothesis``, installed here but not dependencies, must not import there.
5. In that environment, from an empty working directory: each package imports from the fresh
   environment's site-packages, its ``py.typed`` is beside it, the installed version equals
   ``pyproject.toml``'s, and ``python -m robust --help`` and ``python -m adaptive --help`` exit 0.

Nothing is left behind unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import email
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("traincore", "robust", "adaptive")
CLIS = ("robust", "adaptive")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    shown = [str(c).strip().splitlines()[0] + " ..." if "\n" in str(c) else str(c) for c in cmd]
    print("+", " ".join(shown), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def fail(message: str) -> None:
    sys.exit(f"wheel-check: FAILED: {message}")


def project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def build(out: Path) -> tuple[Path, Path]:
    # no target flag: build makes the sdist, then the wheel from the unpacked sdist
    run([sys.executable, "-m", "build", "--quiet", "--outdir", str(out), str(ROOT)])
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        fail(f"expected one sdist and one wheel in {out}, found {sdists + wheels}")
    run([sys.executable, "-m", "twine", "check", "--strict", str(sdists[0]), str(wheels[0])])
    return sdists[0], wheels[0]


def source_files() -> set[str]:
    files = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            files.add(path.relative_to(ROOT).as_posix())
    return files


def check_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = source_files() | {f"{p}/py.typed" for p in PACKAGES}
    missing = sorted(expected - names)
    if missing:
        fail(f"the wheel lacks {len(missing)} package files, e.g. {missing[:5]}")
    dist_info = {n.split("/")[0] for n in names if ".dist-info/" in n}
    if len(dist_info) != 1:
        fail(f"expected one .dist-info folder, found {sorted(dist_info)}")
    extra = sorted(n for n in names - expected if not n.startswith(next(iter(dist_info))))
    if extra:
        fail(f"the wheel carries files outside the three packages: {extra[:5]}")
    if not any(n.endswith("/LICENSE") for n in names):
        fail("the wheel carries no LICENSE")
    print(f"wheel-check: {wheel.name}: {len(expected)} package files, py.typed x{len(PACKAGES)},"
          " LICENSE, nothing else")


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(zf.read(meta_name))
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def dependency_closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Installed distributions the requirements need, transitively (extras not followed)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            fail(f"dependency {req} is not installed next to {sys.executable}")
        if not req.specifier.contains(dist.version, prereleases=True):
            fail(f"dependency {req} is not met by the installed {dist.version}")
        found[name] = dist
        for sub in dist.requires or []:
            sub_req = Requirement(sub)
            if sub_req.marker is None or sub_req.marker.evaluate({"extra": ""}):
                todo.append(sub_req)
    return found


def link_dependencies(dists: dict[str, metadata.Distribution], into: Path) -> None:
    """Symlink each distribution's top-level files and folders (from its RECORD) into ``into``."""
    into.mkdir()
    for dist in dists.values():
        site = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in sorted(tops):
            source, target = site / top, into / top
            if source.exists() and not target.exists():
                target.symlink_to(source)


CHECK = textwrap.dedent(
    """
    import importlib, importlib.metadata as md, importlib.util, os, sys
    site, root, version = sys.argv[1:4]
    assert not any(os.path.realpath(p or ".").startswith(root) for p in sys.path), sys.path
    for name in {packages!r}:
        module = importlib.import_module(name)
        here = os.path.dirname(module.__file__)
        assert here == os.path.join(site, name), (name, module.__file__)
        assert os.path.isfile(os.path.join(here, "py.typed")), name
    # the environment sees only the wheel's declared dependencies: test tools are absent
    for absent in ("pytest", "hypothesis"):
        assert importlib.util.find_spec(absent) is None, absent
    dist = md.distribution("robust-adaptive")
    assert str(dist.locate_file("")) == site, dist.locate_file("")
    assert dist.version == version, (dist.version, version)
    print("wheel-check: imported", {packages!r}, "from", site, "version", version)
    """
).format(packages=PACKAGES)


def check_fresh_venv(wheel: Path, work: Path) -> None:
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--disable-pip-version-check", "--no-deps", "--no-index", str(wheel)])
    deps = dependency_closure(wheel_requirements(wheel))
    link_dependencies(deps, work / "deps")
    (site / "_wheel_check_deps.pth").write_text(f"{work / 'deps'}\n")
    print(f"wheel-check: dependencies exposed (no download): {', '.join(sorted(deps))}")
    empty = work / "cwd"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run([python, "-c", CHECK, str(site), str(ROOT), project_version()], cwd=empty, env=env)
    for cli in CLIS:
        out = run([python, "-m", cli, "--help"], cwd=empty, env=env, capture_output=True, text=True)
        if "usage" not in out.stdout.lower():
            fail(f"python -m {cli} --help printed no usage: {out.stdout[:200]!r}")
        print(f"wheel-check: python -m {cli} --help: exit 0, {len(out.stdout.splitlines())} lines")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wheel-check-"))
    try:
        _, wheel = build(work / "dist")
        check_wheel_contents(wheel)
        check_fresh_venv(wheel, work)
    except subprocess.CalledProcessError as err:  # its output is above
        shown = " ".join(str(c) for c in err.cmd[:4])
        fail(f"{shown} ... exited with status {err.returncode} (its output is above)")
    finally:
        if args.keep:
            print(f"wheel-check: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("wheel-check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
