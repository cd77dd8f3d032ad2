# mindgap — the two commands: `make book` (the cpu book) and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
PROFILE ?= cpu
DEVICE  ?= cpu

.PHONY: install test book notebooks stages clean-build bench ott-env

install: $(STAMP)
	@# Debian's chromium for the browser test (tests/test_book_browser.py); quick no-op when present
	@test -x /usr/bin/chromium || { \
	  apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -q; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

test: install
	$(BIN)/python -m pytest -q tests

book: install
	$(BIN)/mindgap run --profile $(PROFILE) --device $(DEVICE)
	$(BIN)/mindgap book --profile $(PROFILE)

# the chapters are edited as jupytext py:percent files; this refreshes their .ipynb twins (outputs stay empty)
notebooks: install
	$(BIN)/jupytext --update --to ipynb book/[0-9][0-9]_*.py

# the dry run: every stage of the book with its key and cache status
stages: install
	$(BIN)/mindgap stages --profile $(PROFILE) --device $(DEVICE)

bench: install
	@# transport_ott.py is not a benchmark of its own: the transport scripts run it in .venv-ott (`--ott`)
	for b in benchmarks/*.py; do [ $$b = benchmarks/transport_ott.py ] || $(BIN)/python $$b || exit 1; done

clean-build:
	rm -rf build _build

# OTT-JAX in its own environment, for the side-by-side runs of benchmarks/transport*.py (`--ott`); the book and the
# tests never need it
ott-env:
	test -x .venv-ott/bin/python || $(PY) -m venv .venv-ott
	.venv-ott/bin/python -m pip install -q "ott-jax==0.6.0" "jax==0.10.2" "jaxlib==0.10.2" "flax==0.12.8" \
	  "optax==0.2.8" "diffrax==0.7.2"
