# SPDX-License-Identifier: GPL-3.0-or-later
# depth_addon developer entry points. Every target creates the virtual environment on first use
# and never reinstalls afterwards (a stamp file tracks the requirements). `make test` also builds <venv>-bare,
# a Python with only bpy and numpy (as Blender ships), where the built zip is installed and used.
# BLENDER=5.0 (default), 4.5, 4.2, 5.1, 5.2 or 5.3 picks the bpy version and its own venv (.venv, .venv-4.5, ...).
# 5.1, 5.2 and 5.3 bundle Python 3.13: scripts/python313.sh finds a CPython 3.13 or builds one into .python313/ once.

PYTHON ?= python3.11
BLENDER ?= 5.0
ifeq ($(BLENDER),5.0)
VENV ?= .venv
REQUIREMENTS := requirements.txt
else
VENV ?= .venv-$(BLENDER)
REQUIREMENTS := requirements-$(BLENDER).txt
endif
ifneq ($(filter $(BLENDER),5.1 5.2 5.3),)
BASE := requirements/base-py313.txt
NEW_VENV = py=$$(scripts/python313.sh) && nice $$py -m venv $(VENV)
# PyPI's cp313 torch is the CUDA build, which pulls triton (torch.compile for GPUs, unused here). libtriton.so
# carries its own LLVM and crashes in its static constructors when Mesa's llvmpipe has already loaded the
# system libLLVM (any GPU-context test before the first torch/diffusers import), so it is removed.
AFTER_INSTALL = $(PY) -m pip uninstall --quiet --yes triton
else
BASE := requirements/base.txt
NEW_VENV = $(PYTHON) -m venv $(VENV)
AFTER_INSTALL = true
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The Blender-as-shipped environment: only bpy and numpy, at the test venv's versions (tests/test_artist_flow.py).
BARE := $(VENV)-bare
BARE_STAMP := $(BARE)/.installed
OUT ?= out

.PHONY: venv demo test bench gallery extension lint clean

venv: $(STAMP)

$(STAMP): $(REQUIREMENTS) $(BASE) requirements/optional-nodeps.txt
	@test -f $(REQUIREMENTS) || { echo "unsupported BLENDER=$(BLENDER) (use 5.0, 4.5, 4.2, 5.1, 5.2 or 5.3)" >&2; exit 2; }
	@test -x $(PY) || { $(NEW_VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/optional-nodeps.txt
	$(AFTER_INSTALL)
	@touch $@

$(BARE_STAMP): $(STAMP)
	@test -x $(BARE)/bin/python || $(PY) -m venv $(BARE)
	$(PY) -m pip freeze --disable-pip-version-check | grep -iE '^(bpy|numpy)==' > $(BARE)/requirements.txt
	$(BARE)/bin/python -m pip install --quiet --disable-pip-version-check -r $(BARE)/requirements.txt
	@touch $@

demo: $(STAMP)
	$(PY) scripts/depth_cli.py demo --out-dir $(OUT)/demo --overwrite

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
