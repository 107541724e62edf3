# Every target bootstraps its own virtualenv from a plain python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo serve test bench lint unit scenario console browser clean

# One line of set-up on the console; pip's own output goes to $(VENV)/install.log (shown only if it fails).
$(STAMP): pyproject.toml
	@echo "Setting up $(VENV) (first run or pyproject.toml changed; log: $(VENV)/install.log) ..."
	@$(PYTHON) -m venv $(VENV)
	@( $(BIN)/python -m pip install --disable-pip-version-check --upgrade pip \
	   && $(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]' ) > $(VENV)/install.log 2>&1 \
	   || { tail -n 40 $(VENV)/install.log; echo "drwave: installing into $(VENV) failed (full log: $(VENV)/install.log)"; exit 1; }
	@touch $(STAMP)
	@echo "Ready."

demo: $(STAMP)
	$(BIN)/drwave demo

# The whole stack on http://127.0.0.1:8765 with the example plan loaded (Ctrl-C stops it); e.g. SERVE_ARGS='--speed 600'
serve: $(STAMP)
	$(BIN)/drwave serve --plan examples/retail-plan.yaml $(SERVE_ARGS)

test: $(STAMP)
	$(BIN)/ruff check functions local tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/drwave bench

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

scenario: $(STAMP)
	$(BIN)/python -m pytest tests/scenario

lint: $(STAMP)
	$(BIN)/ruff check functions local tests
	$(BIN)/ruff format --check functions local tests
	$(BIN)/mypy

# Rebuild the committed web console bundle (local/drwave_local/server/console_dist) from console/: needs Node.js 20.
console:
	cd console && npm ci && npm run build

# The console in headless Chromium (apt-get install chromium; pip install playwright: a driver, no browser download).
browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser tests/contracts/test_console_bundle.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
