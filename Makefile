# Everything bootstraps its own virtual environment: a fresh machine needs only python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCENARIO ?= scenarios/demo.yaml

.PHONY: install run test test-fast lint clean bench scenarios oidc-provider

$(STAMP): pyproject.toml harness/proxy/_relay.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/harness run $(SCENARIO)

# Two test processes (TEST_WORKERS=0: one): the end-to-end runs are mostly timed phases, so two share the
# machine's two cores; a module's tests stay in one process (--dist loadscope), with its module fixtures.
TEST_WORKERS ?= 2
test: $(STAMP) oidc-provider
	OIDC_PROVIDER_DIR=$(OIDC_PROVIDER_DIR) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --durations=15 tests

test-fast: $(STAMP) oidc-provider
	OIDC_PROVIDER_DIR=$(OIDC_PROVIDER_DIR) $(BIN)/python -m pytest -q -m "not slow" tests

# Every shipped scenario end to end in its short form, one at a time (make test runs them two at a time).
scenarios: $(STAMP)
	HARNESS_SCENARIO_PARALLEL=1 $(BIN)/python -m pytest -q tests/e2e/test_scenarios.py

# node oidc-provider v9 (and node 22 if the system's is older than 20) in a cache outside the repository:
# the independent provider of the external-target tests, and the peer of `make bench`. Cheap once cached.
OIDC_PROVIDER_DIR ?= $(HOME)/.cache/harness-bench/oidc-provider
oidc-provider:
	@OIDC_PROVIDER_DIR=$(OIDC_PROVIDER_DIR) tests/fixtures/oidc_provider/install.sh

# Benchmarks against peers (issue 11); not part of `make test`. Installs nginx, haproxy, wrk and node from
# Debian and oidc-provider@9 from npm into a cache outside the repository. BENCH_ARGS="--only target --quick"
BENCH_NODE_DIR ?= $(OIDC_PROVIDER_DIR)
BENCH_ARGS ?=
bench: $(STAMP)
	@# only the packages whose tool is missing: a node from elsewhere (NodeSource's nodejs bundles npm and
	@# conflicts with Debian's npm package) must not make apt refuse the whole install
	@for tp in nginx:nginx-light haproxy:haproxy wrk:wrk node:nodejs npm:npm; do t=$${tp%%:*}; \
	  command -v $$t >/dev/null || test -x /usr/sbin/$$t || missing="$$missing $${tp#*:}"; done; \
	  if [ -n "$$missing" ]; then SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; fi
	@OIDC_PROVIDER_DIR=$(BENCH_NODE_DIR) tests/fixtures/oidc_provider/install.sh
	PATH="$(BENCH_NODE_DIR)/bin:$$PATH:/usr/sbin" OIDC_PROVIDER_DIR=$(BENCH_NODE_DIR) $(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check harness tests
	$(BIN)/mypy harness tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find harness -name '*.so' -delete
