# idm: every target runs inside one virtual environment, created once and reused.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
# Released weights: $IDM_CHECKPOINTS/<model>/ when set (tests and CI use ../shared/pretrained),
# otherwise ~/.cache/idm/<model>/, downloaded on first use.
export IDM_CHECKPOINTS ?= $(if $(wildcard $(SHARED)/pretrained),$(abspath $(SHARED)/pretrained),)

.PHONY: venv demo test bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

demo: venv
	$(BIN)/python -m idm.demo demo/groove.wav
	$(BIN)/python -m idm separate demo/groove.wav -o demo/separated --overwrite

test: venv
	$(BIN)/python -m pytest tests

bench: venv
	$(BIN)/python benchmarks/separate_speed.py
	$(BIN)/python benchmarks/long_input.py

clean:
	rm -rf demo build *.egg-info .pytest_cache
