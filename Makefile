# reenact — every target sets itself up; `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch's version comes from constraints.txt, the versions the test suite last passed with
TORCH_VERSION ?= $(shell sed -n 's/^torch==//p' constraints.txt)
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto

.PHONY: setup test demo bench bench-gpu bench-memory doctor eval eval-self eval-cross constraints clean

setup: $(STAMP)

# torch goes in first, pinned, so no later step pulls a second (multi-GB CUDA) build; everything
# else at the versions of constraints.txt, so a fresh machine gets what CI passed with.
# mediapipe brings opencv-contrib-python; a venv made before it was the only OpenCV may still hold
# opencv-python-headless, whose removal deletes the cv2 files both share: contrib is put back after.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null \
	  || $(PY) -m pip install --disable-pip-version-check -q torch==$(TORCH_VERSION)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[test]"
	@if $(PY) -m pip show -q opencv-python-headless 2>/dev/null; then \
	  $(PY) -m pip uninstall --disable-pip-version-check -y -q opencv-python-headless \
	  && $(PY) -m pip install --disable-pip-version-check -q --force-reinstall --no-deps -c constraints.txt opencv-contrib-python; fi
	@touch $(STAMP)

# every core (pytest-xdist); slow tests included; the last line is the wall time
test: setup
	@start=$$(date +%s); $(PY) -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	  echo "make test: $$(( $$(date +%s) - start )) s wall, $$(nproc) cores"; exit $$rc

# constraints.txt from this venv once `make test` passes in it: every installed distribution but
# reenact, local build tags (+cpu) dropped so PyPI's builds match
constraints: setup
	$(PY) -m pip freeze --disable-pip-version-check --exclude-editable | grep -v '^reenact' \
	  | sed -E 's/\+[A-Za-z0-9.]+$$//' > constraints.txt

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
