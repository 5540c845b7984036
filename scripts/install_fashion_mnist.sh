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
bash "$(dirname "$0")/apt_install.sh" dataset-fashion-mnist
have "$DIR" || { echo "fashion-mnist: dataset-fashion-mnist installed but $DIR lacks the files" >&2; exit 1; }
echo "fashion-mnist: installed ($DIR)"
