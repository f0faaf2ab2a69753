# The README's two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# pywb, the web-archive replay tool the evidence tests replay case files in: a venv of its own,
# because it pins libraries (redis, fakeredis) older than adwatch's.
REPLAY := .venv-replay
REPLAY_STAMP := $(REPLAY)/.installed-stamp

.PHONY: setup replay chromium demo test check lint types bench clean es-start es-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) chromium replay

$(REPLAY_STAMP):
	$(PYTHON) -m venv $(REPLAY)
	$(REPLAY)/bin/python -m pip install --quiet 'pywb==2.10.0'
	touch $(REPLAY_STAMP)

# Without it the replay test is skipped (and says so); everything else works.
replay:
	-@$(MAKE) --no-print-directory $(REPLAY_STAMP)

# Browser sources render in the system Chromium (Debian's `chromium`; Playwright's own browser
# download is never used). Installed with apt when missing and run as root; otherwise it says how.
# Without it the other sources still crawl, so a failure here does not stop make.
chromium: $(STAMP)
	-@$(BIN)/python -m spiders.browser.chromium

# As root (a container, CI) Chromium cannot start its sandbox. The demo, the tests and the
# benchmarks render only the synthetic demo world on 127.0.0.1, so there the sandbox is turned
# off explicitly; a real crawl as root is refused unless the operator does the same.
NO_SANDBOX_AS_ROOT := $(if $(filter 0,$(shell id -u)),ADWATCH_BROWSER_SANDBOX=off)

demo: setup
	$(NO_SANDBOX_AS_ROOT) $(BIN)/adwatch demo

# A real Elasticsearch node around the suite (started if none is reachable, stopped after
# if this run started it); without Java and Maven its tests are skipped, loudly.
test: setup
	$(NO_SANDBOX_AS_ROOT) $(BIN)/python -m tests.es_node run -- $(BIN)/python -m pytest

es-start: setup
	$(BIN)/python -m tests.es_node start

es-stop: setup
	$(BIN)/python -m tests.es_node stop

lint: setup
	$(BIN)/ruff check .

types: setup
	$(BIN)/mypy

check: lint types test

bench: setup
	$(NO_SANDBOX_AS_ROOT) $(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(REPLAY) build *.egg-info
