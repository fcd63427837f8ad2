# eventshop: `make run` starts the local stack, `make test` runs every test.
# Both create .venv with Python 3.12 (the Lambda runtime) and install first.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
ROLE ?= customer
SUB ?= customer-1
PYTEST_ARGS ?=
# make test: one worker per core and one more, a test module per worker (each e2e module keeps its
# own stack): the stacks' waits (visibility timeouts, the browser) leave a core idle a quarter of
# the time with one worker per core
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
STATE_DIR ?= .devstack/state

# Python 3.12: the first that runs (a pyenv shim may not), on PATH or pyenv's. Chalice packages for the runtime of the
# interpreter that runs it, so this choice is the Lambda runtime too.
PYTHON312 ?= $(shell for p in python3.12 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 \
  /usr/local/bin/python3.12 /usr/bin/python3.12; do \
  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 \
  && { command -v "$$p"; break; }; done)

.PHONY: setup browser run test test-fast lint format bench token deploy clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@if [ ! -x $(PY) ]; then \
	  if [ -z "$(PYTHON312)" ]; then echo "Python 3.12 is required (python3.12 on PATH or pyenv)"; exit 1; fi; \
	  "$(PYTHON312)" -m venv $(VENV); \
	fi
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' \
	  || { echo ".venv is not Python 3.12: remove it and run make again"; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# PAYMENT_PROVIDER=stripe: the app pays through the Stripe provider, against
# devstack's Stripe-compatible server (no account, no network).
# The stack's state is kept in $(STATE_DIR) and goes on at the next start;
# FRESH=1 empties it first.
# The app is imported again when its code changes (--reload); an empty shop
# gets the demo catalog of tools/demo.py (--seed), unless SEED=0.
run: setup
	$(PY) -m devstack run --state-dir $(STATE_DIR) $(if $(filter 1,$(FRESH)),--fresh) \
	  --reload $(if $(filter 0,$(SEED)),,--seed tools.demo:seed) \
	  $(if $(filter stripe,$(PAYMENT_PROVIDER)),--stripe)

# The browser tier (tests/browser) drives Debian's chromium with Playwright
# (Playwright's own browser download cannot run on these machines): installed
# here when missing and run as root, else named for you to install.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "$(CHROMIUM) is missing: installing Debian's chromium for the browser tests"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else \
	    echo "$(CHROMIUM) is missing: the browser tests need Debian's chromium package:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y chromium"; \
	    exit 1; \
	  fi; \
	fi

test: setup browser
	$(PY) -m pytest -n $(WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest tests/unit tests/integration tests/functional $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_architecture.py
	$(VENV)/bin/cfn-lint infra/resources.yaml

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) bench/coldstart.py

token: setup
	@$(PY) -m tools token --role $(ROLE) --sub $(SUB)

deploy: setup
	$(PY) -m tools deploy --stage $(STAGE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/results
