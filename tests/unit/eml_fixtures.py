"""Shared by the parse and classification tests: the bad-input fixtures and their generator."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eml"


def load_eml_fixtures() -> ModuleType:
    """tests/fixtures/eml/make_fixtures.py under a name of its own (forms/ has one too)."""
    name = "eml_make_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "make_fixtures.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
