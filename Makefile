# Every target bootstraps its own virtualenv from a plain python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo serve test bench lint unit scenario scenario-fast console deploy-console browser chromium clean

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

# Debian's Chromium for the browser tests (tests/browser). Installed when missing and we are root; elsewhere the
# browser tests skip, saying why. With CI=true a missing Chromium is an error, not a skip.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then echo "Installing Debian's chromium for the browser tests ..."; \
	    ( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ) > $(VENV)/chromium.log 2>&1 \
	    || { tail -n 20 $(VENV)/chromium.log; echo "drwave: installing chromium failed"; exit 1; }; \
	  elif [ -n "$$CI" ]; then echo "drwave: CI needs /usr/bin/chromium (apt-get install chromium)"; exit 1; \
	  else echo "note: /usr/bin/chromium is missing: the browser tests will be skipped (apt-get install chromium)"; fi; }

test: $(STAMP) chromium
	$(BIN)/ruff check functions local tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/drwave bench

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

scenario: $(STAMP)
	$(BIN)/python -m pytest --dynamodb=moto tests/scenario tests/property

# `make test` runs the scenario and property suites on the local runtime's fast DynamoDB client (the same moto
# backend, called in-process: local/drwave_local/runtime/fast_dynamodb.py); `make scenario` runs them on moto over
# botocore, and `make scenario-fast` on the fast client alone.
scenario-fast: $(STAMP)
	$(BIN)/python -m pytest --dynamodb=fast tests/scenario tests/property

lint: $(STAMP)
	$(BIN)/ruff check functions local tests
	$(BIN)/ruff format --check functions local tests
	$(BIN)/mypy

# Rebuild the committed web console bundle (local/drwave_local/server/console_dist) from console/: needs Node.js 20.
console:
	cd console && npm ci && npm run build

# Upload the console bundle and its config.json to a deployed stack's bucket (after `sam deploy`): STACK=name [REGION=r]
deploy-console: $(STAMP)
	@test -n "$(STACK)" || { echo "usage: make deploy-console STACK=<stack name> [REGION=<region>]"; exit 2; }
	$(BIN)/drwave console publish --stack $(STACK) $(if $(REGION),--region $(REGION))

# The console in headless Chromium (apt-get install chromium; pip install playwright: a driver, no browser download).
browser: $(STAMP) chromium
	$(BIN)/python -m pytest tests/browser tests/contracts/test_console_bundle.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
