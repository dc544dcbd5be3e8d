# One command each: `make setup`, `make demo`, `make test`. Needs only Python 3.10+.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch must be installed before anything that depends on torch; a bare `torch`
# requirement would otherwise fetch a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup chromium demo test lint bench clean

$(BIN)/styleverse: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(BIN)/styleverse

setup: $(BIN)/styleverse chromium

# The browser test (tests/app/test_browser.py) drives the system's Chromium; Playwright never downloads one.
# Installed here only as root with apt-get; otherwise a note says how (the test is skipped without it).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "note: no /usr/bin/chromium, so the browser test is skipped; install it: sudo apt-get install -y chromium"; fi

demo: setup
	$(BIN)/styleverse demo --out styleverse-demo --overwrite

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_transfer.py

clean:
	rm -rf $(VENV) styleverse-demo .pytest_cache
