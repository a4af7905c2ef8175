"""The layers hold by construction, not by convention: `make lint` runs import-linter with
the contracts in pyproject.toml, and these tests show that the contracts bite."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_hold_today():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_pure_package_importing_flask_breaks_the_build(tmp_path):
    """A copy of the tree in which consent/ imports Flask: lint-imports must fail and name
    the contract."""
    for package in ("consent", "caseops"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "consent" / "leak.py").write_text("from flask import request\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "consent/ is pure" in result.stdout
    assert "consent.leak -> flask" in result.stdout


def test_the_contracts_name_the_pure_packages():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    sources = {m for c in config["contracts"] for m in c["source_modules"]}
    assert {"consent", "caseops.matching.engine", "caseops.storage"} <= sources


def _writes_access_events(tree: ast.AST) -> bool:
    """Whether a module builds an AccessEvent row, inserts into its table, or sends SQL
    text that inserts into access_events (a string merely compared is no write)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        args = " ".join(ast.unparse(a) for a in node.args)
        if func == "AccessEvent" or (func.endswith("insert") and "AccessEvent" in func + args):
            return True
        if func.split(".")[-1] in {"text", "execute", "exec_driver_sql"} and re.search(
            r"INSERT\s+INTO\s+access_events", args, re.I
        ):
            return True
    return False


def test_only_the_audit_writer_inserts_into_the_access_log():
    """Entries are written by caseops.audit.service alone (fail closed, group commit, one
    shape); any other module that builds an AccessEvent or inserts into its table is a
    second writer."""
    writers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "caseops").rglob("*.py"))
        if _writes_access_events(ast.parse(path.read_text()))
    ]
    assert writers == ["caseops/audit/service.py"]


def test_the_writer_check_sees_a_second_writer():
    second = ast.parse(
        "def sneak(session):\n"
        "    session.add(AccessEvent(action='client.view'))\n"
        "    session.execute(text('INSERT INTO access_events (action) VALUES (1)'))\n"
    )
    assert _writes_access_events(second)
    comparison = ast.parse("ok = statement.startswith('INSERT INTO access_events')\n")
    assert not _writes_access_events(comparison)
