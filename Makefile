# idm: every target runs inside one virtual environment, created once and reused.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
# Released weights: $IDM_CHECKPOINTS/<model>/ when set (tests and CI use ../shared/pretrained),
# otherwise ~/.cache/idm/<model>/, downloaded on first use.
export IDM_CHECKPOINTS ?= $(if $(wildcard $(SHARED)/pretrained),$(abspath $(SHARED)/pretrained),)

JOBS ?= $(shell nproc 2>/dev/null || echo 1)

.PHONY: venv demo demo-data preprocess test bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

demo: venv
	$(BIN)/python -m idm.demo demo/groove.wav
	$(BIN)/python -m idm separate demo/groove.wav -o demo/separated --overwrite

# StemGMD -> manifest, annotations, mixtures, evaluation stems and training cache (resumable)
preprocess: venv
	@test -n "$(STEMGMD)" -a -n "$(OUT)" || { echo "usage: make preprocess STEMGMD=/path/to/StemGMD OUT=/path/to/output [JOBS=$(JOBS)]"; exit 2; }
	$(BIN)/python -m data.preprocess stemgmd "$(STEMGMD)" "$(OUT)" -j $(JOBS)

# a small StemGMD-shaped set (FluidSynth when installed, else procedural sounds), preprocessed
demo-data: venv
	$(BIN)/python -m data.generate demo/stemgmd
	$(BIN)/python -m data.preprocess stemgmd demo/stemgmd demo/data -j $(JOBS)

test: venv
	$(BIN)/python -m pytest tests

bench: venv
	$(BIN)/python benchmarks/separate_speed.py
	$(BIN)/python benchmarks/long_input.py
	$(BIN)/python benchmarks/loader_speed.py

clean:
	rm -rf demo build *.egg-info .pytest_cache
