"""The catalogue of access-log action names is the only source of names: every name the
code writes is in it, the writer refuses others, and the docs are generated from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from caseops.audit import actions
from caseops.audit.service import entry_values
from caseops.authz.actor import Actor

ROOT = Path(__file__).resolve().parents[1]
WRITERS = {"record", "audit", "refuse", "require", "entry_values", "_log"}


def _literal_actions() -> set[tuple[str, str]]:
    """(file, name) for every string literal the code passes as an action name."""
    found = set()
    for path in (ROOT / "caseops").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                candidates = [kw.value for kw in node.keywords if kw.arg == "action"]
                if name in WRITERS and node.args:
                    candidates.append(node.args[0] if name != "_log" else node.args[1])
                for value in candidates:
                    is_text = isinstance(value, ast.Constant) and isinstance(value.value, str)
                    if is_text and "." in value.value:
                        found.add((str(path.relative_to(ROOT)), value.value))
    return found


def test_every_action_the_code_writes_is_catalogued():
    literal = _literal_actions()
    assert len(literal) > 30, "the scan should see the code's action names"
    missing = sorted((f, n) for f, n in literal if n not in actions.NAMES)
    assert missing == []


def test_the_writer_refuses_an_uncatalogued_action(app):
    with pytest.raises(ValueError, match=r"not in caseops\.audit\.actions"):
        entry_values("client.peeked", actor=Actor.operator())
    assert entry_values("client.view", actor=Actor.operator())["action"] == "client.view"


def test_every_name_is_area_dot_event_with_a_meaning():
    for name, meaning in actions.ACTIONS.items():
        area, _, event = name.partition(".")
        assert area and event and name == name.lower(), name
        assert meaning.strip(), name


def test_the_docs_are_the_catalogue():
    """docs/audit-actions.md is regenerated with `caseops audit actions > docs/audit-actions.md`."""
    assert (ROOT / "docs" / "audit-actions.md").read_text() == actions.markdown()
