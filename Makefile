# SPDX-License-Identifier: GPL-3.0-or-later
# depth_addon developer entry points. Every target creates the virtual environment on first use
# and never reinstalls afterwards (a stamp file tracks the requirements). `make test` also builds <venv>-bare,
# a Python with only bpy and numpy (as Blender ships), where the built zip is installed and used.
# BLENDER=5.0 (default), 4.5 or 4.2 picks the bpy version and its own venv (.venv, .venv-4.5, .venv-4.2).

PYTHON ?= python3.11
BLENDER ?= 5.0
ifeq ($(BLENDER),5.0)
VENV ?= .venv
REQUIREMENTS := requirements.txt
else
VENV ?= .venv-$(BLENDER)
REQUIREMENTS := requirements-$(BLENDER).txt
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The Blender-as-shipped environment: only bpy and numpy, at the test venv's versions (tests/test_artist_flow.py).
BARE := $(VENV)-bare
BARE_STAMP := $(BARE)/.installed
OUT ?= out

.PHONY: venv demo test bench gallery extension lint clean

venv: $(STAMP)

$(STAMP): $(REQUIREMENTS) requirements/base.txt requirements/optional-nodeps.txt
	@test -f $(REQUIREMENTS) || { echo "unsupported BLENDER=$(BLENDER) (use 5.0, 4.5 or 4.2)" >&2; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/optional-nodeps.txt
	@touch $@

$(BARE_STAMP): $(STAMP)
	@test -x $(BARE)/bin/python || $(PYTHON) -m venv $(BARE)
	$(PY) -m pip freeze --disable-pip-version-check | grep -iE '^(bpy|numpy)==' > $(BARE)/requirements.txt
	$(BARE)/bin/python -m pip install --quiet --disable-pip-version-check -r $(BARE)/requirements.txt
	@touch $@

demo: $(STAMP)
	$(PY) scripts/depth_cli.py demo --out-dir $(OUT)/demo

test: $(STAMP) $(BARE_STAMP)
	DEPTH_ADDON_BARE_PYTHON=$(abspath $(BARE))/bin/python $(PY) -m pytest tests $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) scripts/bench.py --json $(OUT)/bench.json $(BENCH_ARGS)

gallery: $(STAMP)
	$(PY) scripts/gallery.py --out-dir $(OUT)/gallery

extension: $(STAMP)
	$(PY) scripts/build_extension.py --out-dir dist

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(OUT) dist
