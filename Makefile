# Two commands matter: `make demo` and `make test`. Both set everything up first and are safe to rerun.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CLI    := $(BIN)/cdc-replicator

.PHONY: setup system-deps dynalite browser prometheus postgres demo test lint typecheck up up-debezium down status bench clean

setup: system-deps $(STAMP) dynalite

# redis-server (and, for the tests, chromium and prometheus) come from Debian's packages,
# $(3) being extra apt-get options; Java 17 and Maven fetch and run the Kafka broker.
define apt_install
	@command -v $(1) >/dev/null || { \
	  echo "installing $(2) from Debian's packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(3) $(2) >/dev/null; }
endef

system-deps:
	$(call apt_install,redis-server,redis-server)
	@command -v java >/dev/null || { echo "java (JDK 17) is required to run Kafka"; exit 1; }
	@command -v mvn >/dev/null || { echo "mvn (Maven) is required to fetch Kafka's jars"; exit 1; }
	@command -v npm >/dev/null || { echo "node and npm (Node.js 20) are required to run dynalite"; exit 1; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# dynalite, the second DynamoDB implementation the tests run against, from the npm registry into
# .cache (once; no global install); Node.js runs it.
dynalite: $(STAMP)
	@$(BIN)/python -c 'from pathlib import Path; from streams.devstack.services import fetch_dynalite; fetch_dynalite(Path(".cache"))'

demo: setup
	$(CLI) stack up
	$(BIN)/python -m streams.devstack.demo

up: setup
	$(CLI) stack up

# The stack plus PostgreSQL (wal_level=logical) and Kafka Connect with Debezium's connector.
up-debezium: setup postgres
	$(CLI) stack up --with-postgres

down:
	@[ -x $(CLI) ] && $(CLI) stack down || true

status: setup
	$(CLI) stack status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# The dashboard test drives Debian's headless Chromium.
browser:
	$(call apt_install,chromium,chromium)

# The alert rules are tested with promtool, and against a live Prometheus scraping a worker.
# Only the binaries are used: the tests run their own server; Debian's service is never started.
prometheus:
	$(call apt_install,promtool,prometheus,--no-install-recommends)

# The Debezium end-to-end test runs its own PostgreSQL 15 (Debian's packages, psql included)
# and Kafka Connect (jars from Maven Central, fetched by the test like the broker's). No main
# cluster is created, so the system's postgres service has nothing to start.
PG_BIN := /usr/lib/postgresql/15/bin
postgres:
	@[ -x $(PG_BIN)/postgres ] || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo 'create_main_cluster = false' | \
	    $$SUDO tee /etc/postgresql-common/createcluster.d/cdc-replicator.conf >/dev/null; }
	$(call apt_install,$(PG_BIN)/postgres,postgresql-15)

# TEST_WORKERS test files run at once, each worker with its own Kafka, Redis and DynamoDB API
# (and a file's own PostgreSQL and Connect): two overlap the waits on a 2-core machine.
TEST_WORKERS ?= 2

test: lint typecheck browser prometheus postgres
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
