# Cronpilot: `make run` starts the local stack, `make test` runs every check.
# Both create .venv and install the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

STAGE ?= dev
# One worker per core: the local-stack tests run in order on one worker (tests/conftest.py
# schedules them together) while the in-process tests use the rest. `make test
# PYTEST_PARALLEL=` runs everything in one process.
PYTEST_PARALLEL ?= -n auto

.PHONY: run test lint typecheck pytest bench clean-state install package lint-template \
	sim-planner eval-planner bench-lateness bench-crash bench-soak bench-persistence \
	bench-alerts browser bench-dashboard screenshots bench-cost

install: $(STAMP)

# Then the `cronpilot` command, editable so it runs this checkout; its dependencies are the
# pinned ones installed just before (hence --no-deps).
$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cronpilot local

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory lint-template STAGE=dev
	$(BIN)/pytest $(PYTEST_PARALLEL)

# Headless Chromium for the dashboard's browser tests and screenshots: Debian's package,
# installed when missing (CI runs as root on a clean machine). Without it those tests fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the dashboard's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The deployable template of a stage (offline: needs the package index, not AWS).
package: $(STAMP)
	$(BIN)/python -m chalicelib.infra.package --stage $(STAGE)

lint-template: package
	$(BIN)/cfn-lint build/package-$(STAGE)/sam.json

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_PARALLEL)

bench: $(STAMP)
	$(BIN)/python -m bench.api_latency

# The local stack's benchmarks, each one command on a fresh clone -> bench/results/<name>.txt
bench-lateness: $(STAMP)
	$(BIN)/python -m bench.engine_lateness

bench-crash: $(STAMP)
	$(BIN)/python -m bench.local_crash

bench-soak: $(STAMP)
	$(BIN)/python -m bench.local_soak

bench-persistence: $(STAMP)
	$(BIN)/python -m bench.local_persistence

# DynamoDB capacity per run, every request priced, on the tables issue 14 replaces and on now.
bench-cost: $(STAMP)
	$(BIN)/python -m bench.dynamo_cost

# Incident notice latency (opening run -> webhook) -> bench/results/alert_latency.txt
bench-alerts: $(STAMP)
	$(BIN)/python -m bench.alert_latency

# Dashboard page server times on the local stack -> bench/results/dashboard_latency.txt
bench-dashboard: $(STAMP)
	$(BIN)/python -m bench.dashboard_latency

# The README's screenshots of every dashboard page -> docs/screenshots/*.png
screenshots: $(STAMP) browser
	$(BIN)/python -m bench.screenshots

# The planner in virtual time with the scripted policy -> bench/results/planner_sim.txt
sim-planner: $(STAMP)
	$(BIN)/python -m bench.planner_sim

# The same scenarios against the configured model (OPENAI_API_KEY, OPENAI_BASE_URL,
# CRONPILOT_AI_MODEL); says so and exits 0 when none is configured.
eval-planner: $(STAMP)
	$(BIN)/python -m bench.eval_planner

clean-state:
	rm -rf $${CRONPILOT_HOME:-.cronpilot}
