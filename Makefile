# clore-host developer entry points. `make test` and `make demo` create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# A Python 3.10 interpreter, if this machine has one (the oldest Python rigs run: Ubuntu 22.04).
PY310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
VENV310 := .venv310

.PHONY: test demo bench soak deb lint typecheck pytest pytest-py310 venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check clore_host tests bench packaging
	$(VENV)/bin/ruff format --check clore_host tests bench packaging

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -n 2 -q

# The suite again on Python 3.10 when this machine has it; said plainly when it does not.
pytest-py310:
	@if [ -z "$(PY310)" ]; then \
		echo "Python 3.10 not found on this machine: the suite ran on $$($(PY) -V) only"; \
	else \
		echo "== the suite on $$($(PY310) -V)"; \
		test -x $(VENV310)/bin/python || $(PY310) -m venv $(VENV310); \
		if [ ! $(VENV310)/.installed -nt pyproject.toml ]; then \
			$(VENV310)/bin/python -m pip install --quiet --upgrade pip && \
			$(VENV310)/bin/python -m pip install --quiet -e '.[dev]' && \
			touch $(VENV310)/.installed; \
		fi; \
		$(VENV310)/bin/python -m pytest -n 2 -q -p no:cacheprovider tests; \
	fi

test: lint typecheck pytest pytest-py310

demo: $(STAMP)
	$(VENV)/bin/clore-host demo

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# The README's earnings table: every shipped policy against the best static price on every
# shipped market, 30 days x 20 seeds, with 95 % intervals (clore-host simulate --markdown);
# and, for comparison, the shipped policies as they were before issue 19, labelled "(old)".
.PHONY: earnings
earnings: $(STAMP)
	$(VENV)/bin/clore-host simulate --markdown --days 30 --seeds 20 --market all \
		$(foreach p,$(sort $(wildcard policies/*.toml)),--policy $(p)) \
		$(foreach p,$(sort $(wildcard tests/simulate/old_policies/*.toml)),--policy '$(basename $(notdir $(p))) (old)=$(p)')

soak: $(STAMP)
	$(PY) bench/bench_soak.py

deb: $(STAMP)
	packaging/build-deb.sh dist

clean:
	rm -rf $(VENV) $(VENV310) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
