"""No test module imports another: shared builders live in tests/fixtures/ (plain helpers
are imported from there; fixtures come through the root conftest's ``pytest_plugins``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def imported_modules(source: str, path: Path) -> list[str]:
    """Every module ``source`` (the file ``path``) imports, relative imports resolved;
    ``from a import b`` gives both ``a`` and ``a.b``, as ``b`` may be a module."""
    package = path.relative_to(TESTS.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = [*package[: len(package) - node.level + 1]] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return found


def imports_of_tests(source: str, path: Path) -> list[str]:
    return [
        module
        for module in imported_modules(source, path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    ]


def test_no_test_module_imports_another_test_module():
    offenders = [
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in sorted(TESTS.rglob("test_*.py"))
        for module in imports_of_tests(path.read_text(), path)
    ]
    assert not offenders, "move shared helpers to tests/fixtures/:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "from tests.records.test_ingest import MARIA\n",
        "from tests.records import test_ingest\n",
        "import tests.records.test_ingest\n",
        "from .test_ingest import MARIA\n",
        "def f():\n    from tests.records.test_ingest import put\n",
    ],
)
def test_the_check_sees_each_way_of_importing_a_test_module(source):
    probe = TESTS / "records" / "test_probe.py"
    assert "tests.records.test_ingest" in imports_of_tests(source, probe)


def test_the_check_lets_fixture_modules_through():
    source = "from tests.fixtures.records import MARIA\nfrom tests import factories\n"
    assert imports_of_tests(source, TESTS / "records" / "test_probe.py") == []
