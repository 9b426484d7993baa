# reenact — every target sets itself up; `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0
PYTEST_ARGS ?=

.PHONY: setup test demo bench bench-gpu bench-memory doctor eval eval-self eval-cross clean

setup: $(STAMP)

# torch goes in first, pinned, so no later step pulls a second (multi-GB CUDA) build.
$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null \
	  || $(PY) -m pip install --disable-pip-version-check -q torch==$(TORCH_VERSION)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[test]"
	@touch $(STAMP)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/reenact demo

doctor: setup
	$(VENV)/bin/reenact doctor

bench: setup
	$(PY) tools/bench.py

# diffusion generator: full-size random-weight models on the GPU, --official vs every fast mode (BENCHMARKS.md)
bench-gpu: setup
	$(PY) tools/bench_generator.py --device cuda

# diffusion generator host memory: fails when peak RSS grows >= 0.5 MiB per frame (64 -> 1024 frames)
bench-memory: setup
	$(PY) tools/bench_generator_memory.py

# Benchmark evaluation (docs/eval.md). DATA: a folder of driving videos, or a dataset folder with
# driving/ and source/ (as ../shared/data is); SOURCES: portraits for cross-reenactment.
DATA ?= ../shared/data
SOURCES ?=
ENGINE ?= warp
FRAMES ?=
EVAL_OUT ?= outputs/eval
EVAL_ARGS = --videos $(DATA) --engine $(ENGINE) $(if $(FRAMES),--max-frames $(FRAMES))

eval: eval-self eval-cross

eval-self: setup
	$(VENV)/bin/reenact eval self $(EVAL_ARGS) -o $(EVAL_OUT)/self

eval-cross: setup
	$(VENV)/bin/reenact eval cross $(EVAL_ARGS) $(if $(SOURCES),--sources $(SOURCES)) -o $(EVAL_OUT)/cross

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache outputs
