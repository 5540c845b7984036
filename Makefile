# The README's commands. Each works on a fresh machine with nothing but Python 3.10+:
# it creates .venv when missing, installs the project with the extras it needs, then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out
PYTEST_WORKERS ?= 2

.PHONY: test demo bench lint clean

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
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --timeout=600 --durations=15

demo: $(VENV)/.installed-demo
	$(BIN)/python scripts/demo.py --out $(OUT)/demo

# every suite in benchmarks/ (GPU when present), one summary under benchmarks/results/
bench: $(VENV)/.installed-bench
	-$(BIN)/python -m pytest benchmarks -o addopts="" -p no:cacheprovider -q \
		--benchmark-only --benchmark-json=benchmarks/results/raw.json
	$(BIN)/python benchmarks/summarize.py benchmarks/results/raw.json benchmarks/results/summary

clean:
	rm -rf $(VENV) $(OUT) .hypothesis .benchmarks
