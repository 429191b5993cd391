# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench tools clean

$(STAMP): pyproject.toml src/leaktrace/sources/_skim.c src/leaktrace/protocols/_dns.c
	@sh scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $@

## Set up, analyze the bundled demo capture, then write its HTML report (path and verdicts printed).
demo: $(STAMP)
	$(BIN)/leaktrace analyze captures/demo.pcap --device captures/device.yaml --app captures/app.yaml \
		--report build/demo-report

## Set up (tshark included), then run the linters and the whole test suite.
test: $(STAMP) tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) tools
	$(BIN)/python -m bench

## Debian packages the tests and capture scripts use.
tools:
	@sh scripts/install-tools.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
