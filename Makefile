# qmeanfield: `make demo` (set-up + default example + report) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo-output

.PHONY: demo test test-all fuzz docs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dask,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/qmeanfield demo --out $(OUT)
	@echo "Open $(abspath $(OUT))/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest
	QMF_TUTORIAL_SMALL=1 NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs: $(STAMP)
	QMF_TUTORIAL_SMALL=1 NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "Open $(abspath site)/index.html"

test-all: $(STAMP)
	$(BIN)/python -m pytest -m ""

fuzz: $(STAMP)
	QMF_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -p no:cacheprovider tests/fuzz_inputs.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_user.py
	$(BIN)/python benchmarks/bench_dense.py
	$(BIN)/python benchmarks/bench_symmetric.py
	$(BIN)/python benchmarks/bench_permutational.py
	$(BIN)/python benchmarks/bench_certificate.py
	$(BIN)/python benchmarks/bench_semiclassical.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build site src/*.egg-info
