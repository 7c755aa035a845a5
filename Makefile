# make lab   - set up .venv if needed and open the course in JupyterLab
# make test  - set up .venv if needed and run every test (unit tests, notebooks, exercises, browser tests)
# Each target runs `python -m course_utils <command>`, which also works without make (Windows: see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.installed
JOBS ?= 2
export JOBS

.PHONY: setup browser lab test exercises reset html doctor clean

$(READY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(READY)

setup: $(READY)

# No MPLBACKEND here: the lab's kernels must draw inline figures.
lab: $(READY)
	$(BIN)/python -m course_utils lab

# The browser tests drive Debian's chromium; install it when missing and we may (root with apt), else they are skipped.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& echo "installing chromium for the browser tests" && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed: the browser tests will be skipped"

test: $(READY) browser
	$(BIN)/python -m course_utils test

exercises: $(READY)
	$(BIN)/python -m course_utils exercises $(if $(FORCE),--force)

# make reset N=03 : start exercise 03 afresh (your copy is saved in exercises/backup/)
reset: $(READY)
	$(BIN)/python -m course_utils reset $(N)

html: $(READY)
	$(BIN)/python scripts/build_html.py

doctor: $(READY)
	$(BIN)/python -m course_utils doctor

clean:
	rm -rf build .pytest_cache test-artifacts
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
