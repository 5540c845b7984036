#!/usr/bin/env bash
# Install Debian's Fashion-MNIST (package dataset-fashion-mnist: the original 60k/10k gzip IDX
# files in /usr/share/datasets/fashion-mnist) if it is missing. Used by the robust tests, the demo
# and the benchmarks; robust.fashion_mnist reads the files (no torchvision, no download).
# Idempotent: exits 0 at once when the four files are already there (or in
# $ROBUST_FASHION_MNIST_DIR). Needs root and apt-get; otherwise it prints how to install the
# data and exits 1.
set -euo pipefail

DIR=/usr/share/datasets/fashion-mnist
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
have() {
    for f in $FILES; do [ -f "$1/$f" ] || return 1; done
}
for d in "${ROBUST_FASHION_MNIST_DIR:-}" "$DIR"; do
    if [ -n "$d" ] && have "$d"; then
        echo "fashion-mnist: already installed ($d)"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "fashion-mnist: apt-get not found; put the four .gz files of Fashion-MNIST" \
         "(github.com/zalandoresearch/fashion-mnist) in a folder and set ROBUST_FASHION_MNIST_DIR" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "fashion-mnist: not root and no sudo; run: apt-get install -y dataset-fashion-mnist" \
             "(as root)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends dataset-fashion-mnist
have "$DIR" || { echo "fashion-mnist: dataset-fashion-mnist installed but $DIR lacks the files" >&2; exit 1; }
echo "fashion-mnist: installed ($DIR)"
