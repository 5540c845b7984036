# The README's commands. Each works on a fresh machine with nothing but Python 3.10+:
# it creates .venv when missing, installs the project with the extras it needs, then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out
PYTEST_WORKERS ?= 2

.PHONY: test chaos demo bench bench-env bench-online tcpd lint clean wheel-check docs docs-check typecheck \
	gpu-wheels

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# one stamp per extra; reinstalled when pyproject.toml changes
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$*]"
	touch $@

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# the whole suite: unit, hypothesis, doctests, MQTT against a real broker (not benchmarks)
test: $(VENV)/.installed-test
	-bash scripts/install_mosquitto.sh
	-bash scripts/install_fashion_mnist.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --timeout=600 --durations=15

# the fault-injection suites (marker `chaos`) at many kill points each; `make test` runs the same
# tests with each suite's small default of CHAOS_POINTS
CHAOS_POINTS ?= 300
chaos: $(VENV)/.installed-test
	CHAOS_POINTS=$(CHAOS_POINTS) $(BIN)/python -m pytest -q -m chaos -n $(PYTEST_WORKERS) \
		--timeout=3600 --durations=15

demo: $(VENV)/.installed-demo
	-bash scripts/install_fashion_mnist.sh
	$(BIN)/python scripts/demo.py --out $(OUT)/demo

# deep-river 0.3.4, the peer of adaptive.OnlineLearner, pins river<0.26 and torch<2.6; it runs with
# this project's torch and river 0.25, installed with --no-deps into its own environment. torch,
# numpy, scipy and scikit-learn come from .venv through a .pth file (the same torch build on both
# sides of benchmarks/online_vs_river.py); the project's .venv never sees river 0.25.
BENCH_VENV := .venv-bench
BENCH_PKGS := "river==0.25.*" "deep-river==0.3.4" "pandas>=2.2,<3" python-dateutil pytz tzdata six
$(BENCH_VENV)/.installed: Makefile | $(VENV)/.installed-bench
	$(BIN)/python -m venv $(BENCH_VENV)
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > \
		"$$($(BENCH_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_project_venv.pth"
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps $(BENCH_PKGS)
	$(BENCH_VENV)/bin/python -c "import deep_river, river, torch; assert river.__version__.startswith('0.25'), river.__version__"
	touch $@

bench-env: $(BENCH_VENV)/.installed

# the online learner against deep-river, River's HAT/ARF and logistic regression (held-out streams)
bench-online: $(VENV)/.installed-bench $(BENCH_VENV)/.installed
	nice $(BIN)/python benchmarks/online_vs_river.py

# every suite in benchmarks/ (GPU when present), one summary under benchmarks/results/
bench: $(VENV)/.installed-bench $(BENCH_VENV)/.installed
	-bash scripts/install_fashion_mnist.sh
	-bash scripts/install_mosquitto.sh
	-bash scripts/install_mosquitto_clients.sh
	-$(BIN)/python -m pytest benchmarks -o addopts="" -p no:cacheprovider -q \
		--benchmark-only --benchmark-json=benchmarks/results/raw.json
	$(BIN)/python benchmarks/summarize.py benchmarks/results/raw.json benchmarks/results/summary
	-$(MAKE) tcpd

# TCPD detection benchmark (benchmarks/results/tcpd.{md,json}); reads the data folder of
# benchmarks/data/README.md (TCPD_DATA=DIR to point elsewhere), never downloads
tcpd: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.tcpd.run $(if $(TCPD_DATA),--data $(TCPD_DATA))

# sdist + wheel (python -m build), twine check, the wheel's contents, and the wheel imported
# from a fresh venv that sees only its declared dependencies (scripts/wheel_check.py)
wheel-check: $(VENV)/.installed-dist
	$(BIN)/python scripts/wheel_check.py

# the documentation site (API reference, guides, the examples/ gallery run at build time) into
# docs/_build/html; any warning fails the build; nothing is downloaded (vendored inventories)
docs: $(VENV)/.installed-docs
	@start=$$(date +%s); \
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html && \
	echo "docs: built in $$(( $$(date +%s) - start )) s, $$(find docs/_build/html -name '*.html' | wc -l) HTML pages"

# static types of traincore, robust and adaptive (the configuration is [tool.mypy] in pyproject.toml),
# then the public boundary: every public callable annotated, Any only where it is meant
typecheck: $(VENV)/.installed-typing
	$(BIN)/python -m mypy
	$(BIN)/python scripts/public_types.py

# the built site opened in headless Chromium (Debian's, installed by the script when missing):
# screenshots of the index and an API page in docs/_build/screenshots
docs-check: docs
	bash scripts/install_chromium.sh
	$(BIN)/python scripts/docs_screenshots.py docs/_build/html docs/_build/screenshots

# for a lent GPU machine (Python 3.12 image without these): cp312 manylinux wheels of what it
# lacks and the Fashion-MNIST files, into the ignored .whl/; carry `.whl` and run
# `bash benchmarks/gpu.sh` there (it installs them first)
GPU_WHEELS := torchattacks==3.5.1 river==0.26.1 paho-mqtt==2.2.0
gpu-wheels:
	-bash scripts/install_fashion_mnist.sh
	rm -rf .whl && mkdir -p .whl/fashion-mnist
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--platform manylinux1_x86_64 -d .whl $(GPU_WHEELS)
	cp $${ROBUST_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}/*-ubyte.gz .whl/fashion-mnist/
	@ls -la .whl .whl/fashion-mnist; du -sh .whl

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(OUT) .hypothesis .benchmarks
