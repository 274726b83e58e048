# The two commands of the README:
#   make demo   set up and start the demo (embedded mail servers, sample data)
#   make test   set up and run the whole test suite (real Dovecot, Postfix, PostgreSQL)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo scenario test lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mailbot demo

# the scenario keeps its own data (scenario-data/) and picks free ports: the demo's data and a
# running demo are left alone
scenario: $(VENV)/.installed
	$(BIN)/mailbot demo --reset --scenario --data-dir scenario-data --imap-port 0 --smtp-port 0

test: $(VENV)/.installed
	bash scripts/test-deps.sh
	$(BIN)/ruff check mailbot tests bench
	$(BIN)/mypy mailbot
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check mailbot tests bench
	$(BIN)/mypy mailbot

bench: $(VENV)/.installed
	bash scripts/test-deps.sh
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var demo-data scenario-data .pytest_cache .mypy_cache .ruff_cache
