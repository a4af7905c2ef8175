"""Publish each operation's agency rule in the OpenAPI document (``x-caseops-agency-rule``).

The rules are declared once, in ``caseops.authz.endpoint_rules``; this module only copies
them into the document that ``/api/v1/openapi.json`` serves, so that outside callers read
the same contract the cross-agency matrix test enforces. It post-processes the finished
document (after ``caseops.openapi`` has completed it, FHIR paths included) rather than
hooking each route: every operation, however it was described, passes through here.
An operation without a declaration is left without the field; the matrix test then fails
and names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from caseops.authz.endpoint_rules import rule_for

EXTENSION = "x-caseops-agency-rule"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def annotate(document: dict[str, Any]) -> dict[str, Any]:
    """Add ``x-caseops-agency-rule`` to every declared operation of ``document`` (in place)."""
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            declared = rule_for(method, path)
            if isinstance(operation, dict) and declared is not None:
                operation[EXTENSION] = declared.as_extension()
    return document


def register(app: Flask) -> None:
    """Wrap the spec's ``to_dict`` (call after ``caseops.openapi.register``)."""
    from caseops.extensions import api

    spec = api.spec
    generated: Callable[[], dict[str, Any]] = spec.to_dict
    spec.to_dict = lambda: annotate(generated())  # type: ignore[method-assign]
