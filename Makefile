# Two commands on a fresh machine: `make dev` (the local stack) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
REQUIREMENTS := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQUIREMENTS)
CHROMIUM ?= /usr/bin/chromium
# Lambda's Python and the workflows': a second venv from the same requirements. The
# interpreter is python3.12 on PATH, else pyenv's newest 3.12 (override: PYTHON312=...).
VENV312 ?= .venv312
PY312 := $(VENV312)/bin/python
STAMP312 := $(VENV312)/.installed-$(REQUIREMENTS)
PYTHON312 ?= $(shell .ci/find-python 3.12)
# What runs on 3.12: the workflows' gate (tests/pulumi) and the handler tests, as Lambda
# runs the handlers; the local stack, browser and reliability tests run on 3.11 only.
TESTS312 := tests/pulumi $(wildcard tests/test_*.py)

.PHONY: install install-py312 browser dev test test-py312 reliability mutation lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

$(STAMP312): requirements.txt requirements-dev.txt
	test -x $(PY312) || $(PYTHON312) -m venv $(VENV312)
	$(PY312) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV312)/.installed-* && touch $@

install-py312: $(STAMP312)
	@:  # a recipe, so an installed venv prints nothing

# Headless Chromium for the browser tests comes from Debian's package, never a download.
browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

dev: install
	$(PY) -m local

# Lint first: CI runs exactly this target, so style and types are held there too.
test: install browser lint
	$(PY) -m pytest -q
	@$(MAKE) --no-print-directory test-py312

# Without a 3.12 interpreter this says so and passes: the tests above still hold.
test-py312:
	@py="$(PYTHON312)"; \
	if [ -z "$$py" ]; then \
	  echo "NOT RUN on Python 3.12 (Lambda's and the workflows' Python): no python3.12 on PATH or in pyenv; set PYTHON312=/path/to/python3.12"; \
	else \
	  $(MAKE) --no-print-directory install-py312 PYTHON312="$$py" && \
	  echo "$(PY312) -m pytest -q $(TESTS312)" && \
	  $(PY312) -m pytest -q $(TESTS312); \
	fi

# The full reliability suite (fuzzing, faults, load, privacy); `make test` runs a shorter profile.
reliability: install
	RELIABILITY_PROFILE=full $(PY) -m pytest -q -s tests/reliability

# Mutation testing of the counting core, one module at a time (slow: not part of `make test`).
# MUTATION_CHILDREN workers; MUTATION_MODULES="handlers/ledger.py ..." runs some modules only;
# MUTATION_TESTS="tests/test_ledger*.py ..." narrows the test files (default: per module,
# tests/mutation_score.py NARROWED).
MUTATION_CHILDREN ?= 1
MUTATION_MODULES ?=
MUTATION_TESTS ?=
mutation: install
	$(PY) tests/mutation_score.py --max-children $(MUTATION_CHILDREN) $(MUTATION_MODULES) $(if $(MUTATION_TESTS),--tests $(MUTATION_TESTS))

# mypy twice: for 3.11 (the oldest Python supported) and against Lambda's 3.12 stubs,
# where some deprecations (shutil.rmtree's onerror, ...) exist only.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy --python-version 3.12
	$(PY) -m mypy tests/pulumi/*.py  # apart: a second top-level `conftest` (pyproject.toml)

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(VENV312) .pulumi-build .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
