"""The layers: the pure core loads no I/O library, the package has no import
cycle (lazy imports counted), and no module outgrows a reader."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import scanner

PACKAGE = Path(scanner.__file__).parent
# Every module of scanner/core/, read from the folder: adding a module there
# puts it under the check, with no list to keep.
PURE_CORE = sorted(f"scanner.core.{path.stem}" for path in (PACKAGE / "core").glob("[!_]*.py"))
LONGEST_MODULE = 400
IO_LIBRARIES = {"pycares", "aiodns", "aiofiles", "anyio", "asyncio", "dns", "xlsxwriter", "jinja2",
                "distributed", "dask", "prometheus_client"}  # fmt: skip


def test_the_core_list_is_the_folder():
    assert len(PURE_CORE) >= 20 and "scanner.core.verdict" in PURE_CORE


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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `name` imports anywhere, in functions too,
    except under `if TYPE_CHECKING:` (which never runs)."""
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package[: len(package) - (child.level - 1)]
                    base = ".".join([*parent, *([child.module] if child.module else [])])
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {module for module in found if module in modules and module != name}


def _import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: _imports(name, path, set(paths)) for name, path in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle_lazy_imports_counted():
    graph = _import_graph()
    assert len(graph) > 60 and "scanner.dns.retry" in graph["scanner.scan.shard"]
    # Imports inside functions count: run.py imports the Dask runner only for --dask.
    assert "scanner.scan.daskrun" in graph["scanner.scan.run"]
    assert _cycles(graph) == []


def test_the_cycle_check_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_over_the_limit():
    long = {
        _module_name(path): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > LONGEST_MODULE
    }
    assert long == {}


def test_the_folders_show_the_layers():
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert {"core", "dns", "scan", "files", "commands", "lab"} <= packages
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top == {"__init__", "__main__", "api"}  # everything else lives in its layer


def test_the_design_page_names_every_module_in_its_layer():
    """docs/design.md's picture of the folders lists every module, so it cannot drift."""
    design = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    picture = design.split("```text\n", 1)[1].split("```", 1)[0]
    layers = re.split(r"\n  (?=\S)", picture)
    for folder in ("core", "dns", "scan", "files", "commands", "lab"):
        listed = next(layer for layer in layers if layer.startswith(f"{folder}/"))
        words = set(listed.replace(",", " ").split())
        modules = {path.stem for path in (PACKAGE / folder).glob("[!_]*.py")}
        if folder == "lab":  # described by what they do
            continue
        assert modules <= words, f"{folder}/: {sorted(modules - words)} not in docs/design.md"
