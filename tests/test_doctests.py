"""The examples in the core's docstrings run, and say what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import scanner.core

CORE = sorted(module.name for module in pkgutil.iter_modules(scanner.core.__path__))


@pytest.mark.parametrize("name", CORE)
def test_the_examples_of_every_core_module_hold(name):
    module = importlib.import_module(f"scanner.core.{name}")
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0


def test_some_core_modules_have_examples():
    tried = 0
    for name in CORE:
        finder = doctest.DocTestFinder()
        tried += sum(
            len(t.examples) for t in finder.find(importlib.import_module(f"scanner.core.{name}"))
        )
    assert tried >= 10
