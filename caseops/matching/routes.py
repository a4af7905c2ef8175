"""/api/v1/linkage: the linkage model in use, and the steward's review tools (the ranked
queue, batch decisions, the queue's size)."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.matching import service
from caseops.matching.schemas import (
    BatchSchema,
    DecisionResultSchema,
    RankedItemSchema,
    RankedQuery,
    SizeSchema,
)

blp = ApiBlueprint("linkage_model", __name__, url_prefix="/api/v1", description="The linkage model")


@blp.get("/linkage/model")
@blp.response(200)
def linkage_model():
    """The model new records are linked with: who trained it, when, on how many records,
    whether EM converged, the link and review probabilities, and m, u and the weight of
    every comparison level. Aggregates only: no record, name or agency."""
    return service.model(current_actor())


@blp.get("/linkage/review/ranked")
@blp.arguments(RankedQuery, location="query")
@blp.response(200, RankedItemSchema(many=True))
def ranked_queue(query):
    """The open pairs of the steward's scope, the decision that changes most first, each
    with its comparison level per field."""
    return service.ranked_queue(current_actor(), query["limit"])


@blp.get("/linkage/review/size")
@blp.response(200, SizeSchema)
def queue_size():
    """How many pairs wait for the steward (in the steward's scope)."""
    return service.queue_size(current_actor())


@blp.post("/linkage/review/decisions")
@blp.arguments(BatchSchema)
@blp.response(200, DecisionResultSchema(many=True))
def decide(body):
    """Up to 100 links and keep-aparts, each applied and logged as if made alone and
    answered on its own (an item outside the steward's scope: 404, as unknown)."""
    return service.decide_batch(current_actor(), body["decisions"])
