"""Steward-facing services of the linkage model (the handlers are one line)."""

from __future__ import annotations

from typing import Any

from caseops.authz.actor import Actor
from caseops.authz.guard import require
from caseops.matching import review, training


def model(actor: Actor) -> dict[str, Any]:
    """The model in use, for whoever may manage linkage (data stewards)."""
    require(
        actor,
        "linkage",
        "manage",
        action="linkage.model_read",
        message="Only data stewards may read the linkage model.",
    )
    return training.describe()


def _require_steward(actor: Actor, action: str) -> None:
    require(actor, "linkage", "manage", action=action, message="Your role may not do this.")


def ranked_queue(actor: Actor, limit: int | None) -> list[dict[str, Any]]:
    _require_steward(actor, "linkage.review_list")
    return review.ranked_queue(actor, limit)


def queue_size(actor: Actor) -> dict[str, int]:
    _require_steward(actor, "linkage.review_list")
    return {"open": review.queue_size(actor)}


def decide_batch(actor: Actor, decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _require_steward(actor, "linkage.link")
    return review.decide_batch(actor, decisions)
