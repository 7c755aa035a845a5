# make lab   - set up .venv if needed and open the course in JupyterLab
# make test  - set up .venv if needed and run every test (unit tests, notebooks, exercises)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.installed
JOBS ?= 2
export MPLBACKEND := Agg

.PHONY: setup browser lab test exercises html doctor clean

$(READY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(READY)

setup: $(READY)

lab: $(READY)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) lectures/00_tour.ipynb

# The site test drives Debian's chromium; install it when missing and we may (root with apt), else it is skipped.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& echo "installing chromium for the site test" && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed: the browser test of the site will be skipped"

test: $(READY) browser
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile tests \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
		--nbval-sanitize-with tests/nbval_sanitize.cfg lectures solutions

exercises: $(READY)
	$(BIN)/python scripts/make_exercises.py

html: $(READY)
	$(BIN)/python scripts/build_html.py

doctor: $(READY)
	$(BIN)/python -m course_utils doctor

clean:
	rm -rf build .pytest_cache test-artifacts
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
