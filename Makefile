# The two set-up commands of the README: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

VERL_VENV ?= .venv-verl
VERL_STAMP := $(VERL_VENV)/.installed

.PHONY: venv venv-verl browser demo reproduce test test-main test-fast test-verl lint bench clean

$(STAMP): pyproject.toml constraints.txt
	bash scripts/check_disk.sh 2600 "the virtual environment $(VENV) (torch and the project)" $(VENV)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[ml,dev]'
	touch $(STAMP)

venv: $(STAMP)

# verl pins an older transformers, so its integration is tested in its own environment.
$(VERL_STAMP): requirements-verl.txt pyproject.toml
	bash scripts/check_disk.sh 2600 "the virtual environment $(VERL_VENV) (torch and verl)" $(VERL_VENV)
	$(PY) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/pip install -q torch==2.13.0
	$(VERL_VENV)/bin/pip install -q -c requirements-verl.txt -r requirements-verl.txt
	$(VERL_VENV)/bin/pip install -q --no-deps -e .
	touch $(VERL_STAMP)

venv-verl: $(VERL_STAMP)

demo: $(STAMP)
	$(BIN)/pixelthink demo

# Retrain the shipped tiny model (about 1 h 40 min on 2 cores) and install it into the package.
reproduce: $(STAMP)
	INSTALL=1 bash scripts/reproduce_tiny.sh

test: test-main test-verl

# Debian's Chromium for the browser tests of `pixelthink app` (installed with apt-get when missing).
browser:
	bash scripts/install_browser.sh

# Both runs end with pytest's summary line ("N passed in S s"): pyproject's addopts holds the one -q
# (a second -q would hide it), -rfEs lists failures, errors and skips; a run in which no test passed
# fails (conftest.py).
test-main: $(STAMP) browser
	$(BIN)/ruff check src tests tests_verl bench scripts conftest.py
	$(BIN)/python -m pytest -rfEs --durations=25

# The edit-run loop: everything but the tests marked slow (training runs, the shortened reproduction).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -rfEs -m "not slow" -x

test-verl: $(VERL_STAMP)
	$(VERL_VENV)/bin/python -m pytest -rfEs -p no:cacheprovider tests_verl

lint: $(STAMP)
	$(BIN)/ruff check src tests tests_verl bench scripts conftest.py
	$(BIN)/ruff format --check src tests tests_verl bench scripts conftest.py

bench: $(STAMP)
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_parsers.py --old-limit 5
	$(BIN)/python bench/bench_app.py

clean:
	rm -rf $(VENV) $(VERL_VENV) build dist *.egg-info
