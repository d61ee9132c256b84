# Two commands on a fresh machine (Python 3.11+, make, and the Debian packages in README.md):
#   make demo   — set everything up, build a demo center on SQLite, serve it in the browser
#   make test   — set everything up and run the whole test suite (SQLite, PostgreSQL, browser, Spark)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:10])")

HOST    ?= 127.0.0.1
PORT    ?= 8000
MEMBERS ?= 20000
EMPLOYERS ?= 500
SEED    ?= 42

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: $(STAMP)
	HPF_ENV=development HPF_BANK_URL=$${HPF_BANK_URL:-fake} $(BIN)/hpf demo --seed $(SEED) --employers $(EMPLOYERS) --members $(MEMBERS) --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) hpf-data .pytest_cache .mypy_cache .ruff_cache .hypothesis
