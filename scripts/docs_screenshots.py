"""Open pages of the built documentation in headless Chromium, check them, save screenshots.

Usage: ``python scripts/docs_screenshots.py docs/_build/html OUT_DIR`` (``make docs-check``).

The site is served on a free loopback port (as a web server would serve it, so the theme's
scripts run as they do online). For each page below, Chromium (Debian's ``chromium``, run with
a fresh profile and no background networking) first dumps the DOM after its scripts ran, which
must contain the page's expected texts, then saves a screenshot, which must not be blank. A
failure exits non-zero and names the page.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import matplotlib.image

# page -> (texts that its rendered DOM must contain, window height: tall enough for a figure)
PAGES = {
    "index.html": (["robust-adaptive", "Getting started", "API reference"], 1000),
    "api/robust/attacks.html": (["robust.pgd", "Parameters", "Examples", "PGD"], 1000),
    "api/adaptive/detectors.html": (["adaptive.ADWIN", "adaptive.PageHinkley", "Parameters"],
                                    1000),
    "auto_examples/robust/plot_accuracy_vs_eps.html": (
        ["Accuracy against the attack radius", "sphx-glr-single-img"], 2600),
}
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("docs-check: chromium not found; run scripts/install_chromium.sh")


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser that hung up
                super().handle_error(request, client_address)

    handler = functools.partial(Quiet, directory=str(root))
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def browse(browser: str, url: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="docs-check-profile-") as profile:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=120)


def check_page(browser: str, base: str, page: str, expected: list[str], height: int,
               out: Path) -> str:
    dom = browse(browser, base + page, "--dump-dom").stdout
    missing = [text for text in expected if text not in dom]
    if missing:
        sys.exit(f"docs-check: {page}: rendered page lacks {missing}")
    png = out / (page.replace("/", "_").removesuffix(".html") + ".png")
    browse(browser, base + page, f"--window-size=1400,{height}", f"--screenshot={png}")
    if not png.is_file():
        sys.exit(f"docs-check: {page}: chromium wrote no screenshot")
    pixels = matplotlib.image.imread(png)  # (H, W, 3 or 4) floats in [0, 1]
    if float(pixels[..., :3].std()) < 0.02:
        sys.exit(f"docs-check: {page}: the screenshot is blank")
    return f"{png} ({pixels.shape[1]}x{pixels.shape[0]}, DOM {len(dom):,} characters)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built site (docs/_build/html)")
    parser.add_argument("out", type=Path, help="folder for the screenshots")
    args = parser.parse_args(argv)
    for page in PAGES:
        if not (args.html / page).is_file():
            sys.exit(f"docs-check: {args.html / page} does not exist; run make docs first")
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    server, base = serve(args.html)
    try:
        for page, (expected, height) in PAGES.items():
            result = check_page(browser, base, page, expected, height, args.out)
            print(f"docs-check: {page}: ok, {result}")
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
