# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_DB := examples/data/demo.duckdb
DEMO_KEY := examples/data/demo-token.key
LISTEN ?= 127.0.0.1:6432

.PHONY: demo test install install-test demo-data bench bench-dp clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# node-pg and postgres.js for tests/integration/test_client_node.py, pinned by the lock
# file; without npm (or if npm ci fails) those tests skip, and CI=true fails on the skip.
NODE_CLIENTS := tests/clients/node
$(NODE_CLIENTS)/node_modules/.package-lock.json: $(NODE_CLIENTS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_CLIENTS) --no-audit --no-fund --loglevel=error \
		|| echo "npm ci failed: the node-pg and postgres.js tests will skip"; \
	else echo "npm not found: the node-pg and postgres.js tests will skip"; fi

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(NODE_CLIENTS)/node_modules/.package-lock.json

$(DEMO_DB): examples/build_demo.py $(VENV)/.installed
	$(BIN)/python examples/build_demo.py $(DEMO_DB)

# A fresh random tokenization key per checkout, readable by its owner only.
$(DEMO_KEY):
	@mkdir -p $(dir $@)
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_hex(32))" > $@

demo-data: $(DEMO_DB) $(DEMO_KEY)

demo: demo-data
	@echo
	@echo "Connect in another terminal (demo passwords equal the login names):"
	@echo "  psql \"postgresql://admin:admin@$(LISTEN)/demo\"      # raw role: every table"
	@echo "  psql \"postgresql://analyst:analyst@$(LISTEN)/demo\"  # masked role: tokens, masks, k=5"
	@echo "  psql \"postgresql://reporter:reporter@$(LISTEN)/demo\" # aggregate role: groups of 10 or more"
	@echo "  psql \"postgresql://dashboard:dashboard@$(LISTEN)/demo\" # dp role: noisy aggregates, epsilon 10 a month"
	@echo
	$(BIN)/anonproxy serve --config policies/demo.yaml --listen $(LISTEN)

test: install-test demo-data
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test demo-data
	$(BIN)/python bench/bench_proxy.py

# DP accuracy against OpenDP, diffprivlib and SmartNoise SQL on PUMS (bench/README.md).
# The peers get venvs of their own: SmartNoise pins opendp<0.15, which conflicts with OpenDP 0.16.
DP_VENV := bench/dp/.venv
SN_VENV := bench/dp/.venv-smartnoise

$(DP_VENV)/.installed: bench/dp/requirements.txt bench/dp/constraints.txt
	$(PYTHON) -m venv $(DP_VENV)
	$(DP_VENV)/bin/pip install --quiet -c bench/dp/constraints.txt -r bench/dp/requirements.txt
	touch $@

$(SN_VENV)/.installed: bench/dp/requirements-smartnoise.txt bench/dp/constraints-smartnoise.txt
	$(PYTHON) -m venv $(SN_VENV)
	$(SN_VENV)/bin/pip install --quiet -c bench/dp/constraints-smartnoise.txt -r bench/dp/requirements-smartnoise.txt
	touch $@

bench-dp: $(VENV)/.installed $(DP_VENV)/.installed $(SN_VENV)/.installed
	$(DP_VENV)/bin/python bench/dp_accuracy.py $(ARGS)   # ARGS=--quick for a smoke run

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_KEY) .pytest_cache $(NODE_CLIENTS)/node_modules $(DP_VENV) $(SN_VENV) \
		bench/dp/data/pums.duckdb bench/dp/data/ledger.sqlite* bench/dp/data/bench-token.key
