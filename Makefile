# Two commands on a fresh machine (see README.md):
#   make run    create the environment if missing, install, and start the app on the bundled
#               example data (with no display: replay the bundled example log headlessly)
#   make test   create the environment if missing, install, lint, and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.micrographia-installed
OUT ?= micrographia-demo

.PHONY: run test lint bench examples clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]" -e examples/micrographia-example-plugin
	touch $(STAMP)

# With a screen: the app on the bundled example data. Without one: a headless replay of the
# bundled example log, which says where its outputs went.
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  $(VENV)/bin/micrographia resources/examples/drift_series.hspy resources/examples/eds_si.hspy; \
	else \
	  echo "no display: replaying the bundled example log headlessly"; \
	  $(VENV)/bin/micrographia demo --out $(OUT); \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The core/plugin suite runs with every Qt binding made unimportable (MICROGRAPHIA_BLOCK_QT=1):
# this is the CI step that proves the library needs no Qt. Tests of the desktop app live in
# tests/app/ and run afterwards with Qt available, offscreen.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	MICROGRAPHIA_BLOCK_QT=1 $(PY) -m pytest -q -p no:pytest-qt --ignore=tests/app
	if [ -d tests/app ]; then $(PY) -m pytest -q tests/app; fi

bench: $(STAMP)
	$(PY) benchmarks/bench_core_ops.py

examples: $(STAMP)
	$(PY) resources/make_examples.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache $(OUT)
