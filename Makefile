# SPDX-License-Identifier: GPL-3.0-or-later
# depth_addon developer entry points. Every target creates the virtual environment on first use
# and never reinstalls afterwards (a stamp file tracks requirements.txt).

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: venv demo test bench extension lint clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

demo: $(STAMP)
	$(PY) scripts/depth_cli.py demo --out-dir $(OUT)/demo

test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) scripts/bench.py --json $(OUT)/bench.json $(BENCH_ARGS)

extension: $(STAMP)
	$(PY) scripts/build_extension.py --out-dir dist

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(OUT) dist
