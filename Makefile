# unified-nas quick start:
#   make demo   the main job: benchmark the default recipe across NNI, Optuna and AutoKeras, write the report
#   make test   the test suite
# Both create ./.venv and install everything on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch goes in first and pinned: here torch==2.13.0 resolves to a CPU wheel on
# disk, while a bare "torch" requirement (or a newer release) pulls a multi-GB
# CUDA build. On a GPU machine the same pin gets PyPI's CUDA build; override
# with e.g. `make TORCH='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128'`.
TORCH  ?= torch==2.13.0
EXTRAS ?= all

.PHONY: install demo test lint docs bench clean

# NNI's `rl` strategy needs tianshou 0.4.11, whose metadata pins protobuf~=3.19
# while tensorflow-cpu 2.21 (AutoKeras) needs protobuf>=6.31: no resolver can
# satisfy both. It runs fine on the newer protobuf (measured), so tianshou and
# gym go in without their pins, and their real dependencies are resolved normally.
# Order matters: their dependencies first, tianshou last with --no-deps (which skips
# pip's conflict check). The other way round, installing the dependencies made pip
# re-check tianshou and print "ERROR: pip's dependency resolver ... protobuf~=3.19.0".
RL_NODEPS := tianshou==0.4.11 gym==0.26.2
RL_DEPS   := gym-notices cloudpickle numba h5py tensorboard

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install -q $(RL_DEPS)
	$(BIN)/python -m pip install -q --no-deps $(RL_NODEPS)
	touch $@

install: $(VENV)/.installed

DEMO_RECIPE   ?= recipes/digits_mlp.yaml
DEMO_BACKENDS ?= nni,optuna,autokeras

# The main job: the default recipe benchmarked across the three backends, 2 seeds,
# 4 trials per run (a few minutes on 2 cores); writes report.html/.md/.json.
demo: install
	$(BIN)/unas bench $(DEMO_RECIPE) --backends $(DEMO_BACKENDS) --seeds 2 --trials 4

test: install
	$(BIN)/python -m pytest -q

# Lint, format check and types (configured in pyproject.toml); .ci/run runs it before the tests.
LINTED := unified_nas backends tests benchmarks docs/hooks setup.py
lint: install
	$(BIN)/python -m ruff check $(LINTED)
	$(BIN)/python -m ruff format --check $(LINTED)
	$(BIN)/python -m mypy

# The documentation site (mkdocs.yml, docs/) into site/; --strict fails on a broken link or anchor and on an
# API reference that does not resolve. .ci/run runs it after lint.
docs: install
	$(BIN)/python -m mkdocs build --strict

bench: install
	$(BIN)/python benchmarks/optuna_overhead.py
	$(BIN)/python benchmarks/nni_engines.py
	$(BIN)/python benchmarks/autokeras_overhead.py
	$(BIN)/python benchmarks/resume_replay.py
	$(BIN)/python benchmarks/nb201_bench.py --jobs 2

clean:
	rm -rf $(VENV) unas.sqlite unas-runs
