# ionscale: every target first makes sure the environment exists and is up to date
# (envs/setup.sh is idempotent: it returns at once when nothing changed).

VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
PROFILE := workflow/profiles/default
export IONSCALE_VENV := $(abspath $(VENV))

.PHONY: env run test test-quick lint check lock clean

env:
	@bash envs/setup.sh

## run the default pipeline (config/config.yaml) on this machine
run: env
	$(BIN)/snakemake --configfile config/config.yaml --workflow-profile $(PROFILE) --cores $(CORES)

## run the whole test suite (engines and the end-to-end run of config/test.yaml included)
test: env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## the fast unit tests only (no engines, no end-to-end run)
test-quick: env
	$(BIN)/python -m pytest -m "not engine and not slow" $(PYTEST_ARGS)

lint: env
	$(BIN)/ruff check . && $(BIN)/ruff format --check . \
	  && $(BIN)/snakefmt --check Snakefile workflow && $(BIN)/snakemake --lint

## prove every engine runs (GPAW, DeePMD-kit, LAMMPS, DOLFINx, Snakemake)
check: env
	$(BIN)/ionscale check

## re-resolve envs/requirements.in into envs/requirements.lock (needs the registries)
lock:
	rm -rf .venv-lock && $$(bash envs/setup.sh --print-python) -m venv .venv-lock
	.venv-lock/bin/pip install -q -r envs/requirements.in
	{ sed -n '1,3p' envs/requirements.lock; .venv-lock/bin/pip freeze --exclude-editable; } > envs/requirements.lock.new
	mv envs/requirements.lock.new envs/requirements.lock && rm -rf .venv-lock

clean:
	rm -rf results .snakemake
