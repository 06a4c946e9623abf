# amazon-cls: `make help` lists the targets. Everything runs inside .venv, created on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
# PyTorch's CPU-only wheels (about 1 GB installed instead of 6) where the network reaches their index:
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# a data set: the name of a data config (planet_dev) or a folder in the Kaggle layout
DATA_ARG = $(if $(DATA),$(if $(wildcard amazon_cls/conf/data/$(DATA).yaml),data=$(DATA),data.root=$(DATA)))
# make ensemble: data root, test folders (space-separated), sample submission, model configs, folds, ...
DATA ?=
TEST ?=
ORDER ?=
MODELS ?= resnet50,densenet121,inception_v3
FOLDS ?= 0,1,2,3,4
EPOCHS ?= 10
SIZE ?=
OUT ?= outputs/ensemble/sweep
METHOD ?= auto
empty :=
space := $(empty) $(empty)
comma := ,

# tcmalloc speeds up CPU training over glibc malloc (1.16-1.23x for fp32 resnet18 at 64 px in `make bench`
# here); preloaded when installed (Debian/Ubuntu: sudo apt-get install libtcmalloc-minimal4).
TCMALLOC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib64/libtcmalloc_minimal.so.4))
RUN := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC)) $(PY)

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e ".[dev]"
	touch $@

install: $(VENV)/.installed ## Create .venv and install the project with its dev tools

train: install ## Train on the embedded default data set (make train ARGS="model=densenet121", DATA=...)
	$(RUN) -m amazon_cls.train $(DATA_ARG) $(ARGS)

test: install ## Run the fast tests (the default suite), one worker per core
	$(PY) -m pytest -m "not slow" -n auto $(ARGS)

test-all: install ## Run every test, slow ones included
	$(PY) -m pytest -n auto $(ARGS)

ensemble: install ## Train every member (MODELS x FOLDS) and combine them into OUT/ensemble/submission.csv
	$(RUN) -m amazon_cls.train -m experiment=ensemble model=$(MODELS) data.fold=$(FOLDS) \
		trainer.max_epochs=$(EPOCHS) hydra.sweep.dir=$(OUT) $(DATA_ARG) \
		$(if $(TEST),"predict_dirs=[$(subst $(space),$(comma),$(strip $(TEST)))]") \
		$(if $(SIZE),model.image_size=$(SIZE)) $(ARGS)
	$(RUN) -m amazon_cls.ensemble sweep_dir=$(OUT) method=$(METHOD) $(if $(ORDER),order=$(ORDER))

# make bench measures on planet-dev's real chips when they sit beside the checkout (BENCH_DATA=<folder> for others)
BENCH_DATA ?= $(wildcard ../shared/data/planet-dev/images)

bench: install ## Measure the fast paths against plain ones (ratios; extra options: ARGS="--backbone resnet50")
	$(RUN) -m benchmarks.bench $(if $(BENCH_DATA),--data $(BENCH_DATA)) $(ARGS)

check: install ## Check a data set without training (make check DATA=/path/to/planet, or DATA=planet_dev)
	$(PY) -m amazon_cls.check $(DATA_ARG) $(ARGS)

eda: install ## Plots and a summary of a data set (make eda DATA=planet_dev)
	$(PY) -m amazon_cls.eda $(DATA_ARG) $(ARGS)

baseline: install ## A random forest on colour statistics, scored like the CNNs (make baseline DATA=...)
	$(PY) -m amazon_cls.baseline $(DATA_ARG) $(ARGS)

predict: install ## Predict chips into a submission (ARGS="ckpt=<model.ckpt> input=<folder> output=<file.csv>")
	$(RUN) -m amazon_cls.predict $(ARGS)

map: install ## Map a georeferenced scene (ARGS="ckpt=<model.ckpt> scene=<scene.tif>")
	$(RUN) -m amazon_cls.map $(ARGS)

monitor: install ## Dated alerts from a series of scenes (ARGS="ckpt=<model.ckpt> scenes=[a.tif,b.tif]")
	$(RUN) -m amazon_cls.monitor $(ARGS)

evaluate: install ## Score models, ensembles or submissions with intervals (ARGS="compare=[a,b] data.root=... fold=0")
	$(RUN) -m amazon_cls.evaluate $(DATA_ARG) $(ARGS)

tune: install ## Search the training recipe with Optuna; the same command resumes (ARGS="model=plain_cnn n_trials=20")
	$(RUN) -m amazon_cls.tune $(DATA_ARG) $(ARGS)

audit: install ## Find probably wrong labels with cleanlab (ARGS="sweep_dir=<every fold's runs>", DATA=...)
	$(PY) -m amazon_cls.audit $(DATA_ARG) $(ARGS)

lint: install ## Check style with ruff and the annotated layers' types with mypy (core, store)
	$(VENV)/bin/ruff check amazon_cls tests docs benchmarks
	$(VENV)/bin/ruff format --check amazon_cls tests docs benchmarks
	$(VENV)/bin/mypy

docs: install ## Build the documentation into docs/_build/html (warnings are errors)
	rm -rf docs/_api  # autosummary's stubs, made again: a module that moved leaves none behind
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

figures: install ## Make the documentation's pictures again from a real run (docs/figures.py)
	$(PY) docs/figures.py $(ARGS)

format: install ## Format the code with ruff
	$(VENV)/bin/ruff check --fix amazon_cls tests docs benchmarks
	$(VENV)/bin/ruff format amazon_cls tests docs benchmarks

tensorboard: install ## Show every run under outputs/ in TensorBoard
	$(VENV)/bin/tensorboard --logdir outputs

clean: ## Remove run outputs and the built documentation (keeps .venv and generated data)
	rm -rf outputs docs/_build docs/_api

.PHONY: help install train test test-all ensemble bench check eda baseline predict map monitor evaluate tune audit lint \
	docs figures format tensorboard clean
