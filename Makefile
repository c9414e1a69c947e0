# fcrdns-scanner: `make demo` to see a scan, `make test` to prove it works.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint bench clean

# Debian's python3 lacks ensurepip unless python3-venv is installed; then the
# venv is made without pip and the system pip installs into it.
$(INSTALLED): pyproject.toml
	@if $(PYTHON) -m venv $(VENV) 2>/dev/null; then \
		$(BIN)/python -m pip install --quiet -e '.[test]'; \
	else \
		rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) && \
		$(PYTHON) -m pip --python $(BIN)/python install --quiet -e '.[test]'; \
	fi
	@touch $@

demo: $(INSTALLED)
	$(BIN)/python -m scanner.demo

# The tests also run real DNS servers and trace the scanner: they need Debian's
# knot, unbound, dnsdist, strace and iproute2 (.ci/run installs them).
TEST_TOOLS := knotd unbound dnsdist strace ip unshare soffice

test: $(INSTALLED)
	@missing=""; for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "make test needs:$$missing. Install them with: sudo apt-get install knot unbound dnsdist strace iproute2 libreoffice-calc-nogui (or run: sudo bash .ci/run)"; \
		exit 1; \
	fi
	$(BIN)/python -m pytest

# Reproducible measurements; each prints a table and appends it to benchmarks/RESULTS.md.
# Installs Knot DNS, dnsperf, dnsdist and Unbound from Debian packages if they
# are missing (their services kept from starting; the benchmarks run their own
# instances on 127.0.0.1).
bench: $(INSTALLED)
	.ci/install-packages knot dnsperf dnsdist unbound
	@# An installed package has its bytecode compiled; measure the scanner as installed.
	$(BIN)/python -m compileall -q scanner
	$(BIN)/python benchmarks/rate.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/wan.py
	$(BIN)/python benchmarks/nightly.py

lint: $(INSTALLED)
	$(BIN)/ruff check scanner tests benchmarks
	$(BIN)/ruff format --check scanner tests benchmarks

clean:
	rm -rf $(VENV) results.csv results.jsonl results.xlsx results-summary.json .pytest_cache
