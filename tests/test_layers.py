"""The pure core loads no I/O library: it can be used (and tested) without a network or a loop."""

import json
import subprocess
import sys

PURE_CORE = [
    "scanner.core.targets",
    "scanner.core.order",
    "scanner.core.verdict",
    "scanner.core.status",
    "scanner.core.diagnose",
    "scanner.core.rows",
    "scanner.core.config",
    "scanner.core.options",
    "scanner.core.names",
    "scanner.core.lookups",
    "scanner.core.summary",
    "scanner.core.mail",
    "scanner.core.authority",
    "scanner.core.report",
    "scanner.core.hilbert",
    "scanner.core.stubborn",
]
IO_LIBRARIES = {"pycares", "aiodns", "aiofiles", "anyio", "asyncio", "dns", "xlsxwriter", "jinja2",
                "distributed", "dask", "prometheus_client"}  # fmt: skip


def test_pure_core_imports_no_io_library():
    program = (
        "import json, sys\n"
        f"for name in {PURE_CORE!r}: __import__(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", program])))
    assert "scanner" in loaded
    assert loaded & IO_LIBRARIES == set()


def test_the_check_sees_an_io_library():
    program = (
        "import json, sys\nimport scanner.dns.engines\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", program])))
    assert "pycares" in loaded


def test_the_api_names_come_from_the_package_too():
    import scanner
    from scanner import api

    assert all(hasattr(api, name) for name in scanner.API_NAMES)
    assert set(api.__all__) == scanner.API_NAMES
    assert scanner.plan_scan is api.plan_scan
