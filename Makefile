# Two commands on a fresh machine: `make dev` (the local stack) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser dev test reliability mutation lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

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

# The full reliability suite (fuzzing, faults, load, privacy); `make test` runs a shorter profile.
reliability: install
	RELIABILITY_PROFILE=full $(PY) -m pytest -q -s tests/reliability

# Mutation testing of the counting core, one module at a time (slow: not part of `make test`).
# MUTATION_CHILDREN workers; MUTATION_MODULES="handlers/ledger.py ..." runs some modules only.
MUTATION_CHILDREN ?= 1
MUTATION_MODULES ?=
mutation: install
	$(PY) tests/mutation_score.py --max-children $(MUTATION_CHILDREN) $(MUTATION_MODULES)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pulumi-build .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
