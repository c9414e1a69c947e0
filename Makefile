# fcrdns-scanner: `make demo` to see a scan, `make test` to prove it works.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint bench clean

# Debian packages that `make` installs itself when run as root on Debian and
# they are missing (.ci/install-packages: their own services kept from
# starting). Without root it says what is missing.
PYTHON_PACKAGES := python3-venv python3-pip
# The tests run real DNS servers (knot, unbound, dnsdist), trace the scanner's
# sockets in a network namespace (strace, iproute2, util-linux's unshare),
# open its CSV in LibreOffice Calc and its HTML report in headless Chromium
# (through chromium-driver and Selenium), and check its `postfix` column
# against a real Postfix smtpd (in a namespace of its own; the system's
# Postfix service is never started), draw the progress display in tmux and
# check the systemd units with systemd-analyze (no systemd is started).
TEST_PACKAGES := strace iproute2 util-linux knot unbound dnsdist libreoffice-calc-nogui chromium chromium-driver postfix tmux systemd postgresql
AS_ROOT_ON_DEBIAN := [ "$$(id -u)" = 0 ] && command -v dpkg-query >/dev/null

# Debian's python3 lacks ensurepip unless python3-venv is installed; then the
# venv is made without pip and the system pip installs into it. `make demo`
# installs the scanner and what it runs with; `make test`, `lint` and `bench`
# add the test extras (pytest, mypy, Dask, Selenium...: about 240 MB more).
pip_install = if [ -x $(BIN)/pip ]; then $(BIN)/python -m pip install --quiet -e $(1); \
	else $(PYTHON) -m pip --python $(BIN)/python install --quiet -e $(1); fi

$(RUNTIME): pyproject.toml
	@if $(AS_ROOT_ON_DEBIAN); then .ci/install-packages $(PYTHON_PACKAGES); fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) 2>/dev/null || \
		{ rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV); }
	@$(call pip_install,.)
	@touch $@

$(INSTALLED): $(RUNTIME)
	@$(call pip_install,'.[test]')
	@touch $@

demo: $(RUNTIME)
	$(BIN)/python -m scanner.commands.demo

TEST_TOOLS := knotd unbound dnsdist strace ip unshare soffice postfix tmux systemd-analyze

test: $(INSTALLED)
	@if $(AS_ROOT_ON_DEBIAN); then .ci/install-packages $(TEST_PACKAGES); fi
	@missing=""; for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing initdb"; \
	if [ -n "$$missing" ]; then \
		echo "make test needs:$$missing. Run it as root (sudo make test) to install Debian's $(TEST_PACKAGES), or install them yourself"; \
		exit 1; \
	fi
	$(BIN)/python -m pytest -n 2 --dist loadfile -m 'not serial'
	$(BIN)/python -m pytest -m serial

# Reproducible measurements; each prints a table and appends it to benchmarks/RESULTS.md.
# Installs Knot DNS, dnsperf, dnsdist and Unbound from Debian packages if they
# are missing (their services kept from starting; the benchmarks run their own
# instances on loopback: 127.0.0.1, and 127.0.0.2-3 as a zone's name servers).
bench: $(INSTALLED)
	.ci/install-packages knot dnsperf dnsdist unbound
	@# An installed package has its bytecode compiled; measure the scanner as installed.
	$(BIN)/python -m compileall -q scanner
	$(BIN)/python benchmarks/rate.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/wan.py
	$(BIN)/python benchmarks/nightly.py
	$(BIN)/python benchmarks/dask.py
	$(BIN)/python benchmarks/authoritative.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/fsync.py
	$(BIN)/python benchmarks/pacing.py
	$(BIN)/python benchmarks/broken_zones.py
	$(BIN)/python benchmarks/walk.py
	$(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/demo.py

lint: $(INSTALLED)
	$(BIN)/ruff check scanner tests benchmarks
	$(BIN)/ruff format --check scanner tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) results.csv results.jsonl results.xlsx results-summary.json .pytest_cache
