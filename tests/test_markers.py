"""Every test that runs one of the Debian tools carries the `lab` marker, so that
`pytest -m 'not lab'` runs the in-process tests on a machine without them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).parent
# How a test starts a tool: the real servers' helpers, the tracing and namespace
# drivers, the spreadsheet, the browser, the mail server.
TOOLS = re.compile(
    r"""Knot\(|Unbound\(|Dnsdist\(|["']strace["']|["']unshare["']|soffice|webdriver|smtpd"""
    r"""|netns_\w+\.py|in_namespace\(|["']chromium|["']tmux["']|systemd-analyze"""
)


def _marked(decorators: list[ast.expr]) -> bool:
    return any("mark.lab" in ast.unparse(decorator) for decorator in decorators)


def unmarked_tool_users(source: str) -> list[str]:
    """Tests that use a tool without the marker; a helper that uses one (a fixture,
    a function several tests call) needs the whole module marked."""
    tree = ast.parse(source)
    lines = source.splitlines()
    module_marked = any(
        isinstance(node, ast.Assign)
        and any(getattr(target, "id", "") == "pytestmark" for target in node.targets)
        and "mark.lab" in ast.unparse(node.value)
        for node in tree.body
    )
    if module_marked:
        return []
    missing = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        if not TOOLS.search("\n".join(lines[start - 1 : node.end_lineno])):
            continue
        if not node.name.startswith("test_"):
            missing.append(f"{node.name} (a helper: mark the module)")
        elif not _marked(node.decorator_list):
            missing.append(node.name)
    return missing


def test_every_test_that_runs_a_tool_is_marked():
    missing = {
        path.name: found
        for path in sorted(TESTS.glob("test_*.py"))
        if path.name != Path(__file__).name  # its own example source names the tools
        if (found := unmarked_tool_users(path.read_text(encoding="utf-8")))
    }
    assert missing == {}


def test_the_check_sees_an_unmarked_test_and_a_helper():
    source = (
        "import pytest\n\n"
        "def knot():\n    return Knot(1)\n\n"
        "def test_a():\n    subprocess.run(['unshare', '--net'])\n\n"
        "@pytest.mark.lab\ndef test_b():\n    Unbound(2)\n\n"
        "def test_c():\n    assert 1\n"
    )
    assert unmarked_tool_users(source) == ["knot (a helper: mark the module)", "test_a"]
    assert unmarked_tool_users("import pytest\npytestmark = pytest.mark.lab\n" + source) == []
