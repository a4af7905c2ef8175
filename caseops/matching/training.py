"""The deployment's linkage model: trained from its own records, stored as versions,
the newest used for every new record (``caseops link train``; docs/linkage-model.md).

Training reads the stored linkage features of a sample of current records (decrypted in
memory, never written in clear), runs the EM of caseops.matching.engine.model and
appends a version; nothing else changes, so it is safe to run from cron. Ingest picks
the newest version up within ``MODEL_TTL`` seconds in every process.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import func, select

from caseops.agencies.models import Agency
from caseops.crypto import keyring_from_config
from caseops.extensions import db
from caseops.matching.engine import BUILT_IN, Features, LinkageModel, normalize_person, train_model
from caseops.matching.engine.normalize import features_from_json
from caseops.matching.models import LinkageModelVersion
from caseops.records.models import SourceRecord
from caseops.records.prepare import linkage_context, person_context

MODEL_TTL = 30.0
DEFAULT_SAMPLE = 200_000
# Below this many records EM has too few repeated people to learn from.
MIN_RECORDS = 200
_cache: dict[str, Any] = {}


def current_model() -> LinkageModel:
    """The newest trained model, or the built-in one before any training; re-read at
    most every ``MODEL_TTL`` seconds per process."""
    cached = _cache.get("model")
    if cached is not None and time.monotonic() - cached[0] < MODEL_TTL:
        return cached[1]
    row = db.session.scalars(
        select(LinkageModelVersion).order_by(LinkageModelVersion.id.desc()).limit(1)
    ).first()
    model = BUILT_IN if row is None else LinkageModel.from_json(row.model, _stats(row))
    _cache["model"] = (time.monotonic(), model)
    return model


def forget_cached_model() -> None:
    _cache.pop("model", None)


def _stats(row: LinkageModelVersion) -> dict[str, Any]:
    return {
        **row.stats,
        "version": row.id,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "records": row.records,
        "converged": row.converged,
    }


def sample_features(sample: int, seed: int = 0) -> list[Features]:
    """Features of up to ``sample`` current records, chosen at random."""
    ids = list(
        db.session.scalars(select(SourceRecord.id).where(SourceRecord.withdrawn_at.is_(None)))
    )
    if len(ids) > sample:
        ids = random.Random(seed).sample(ids, sample)  # noqa: S311 - sampling
    keyring = keyring_from_config(current_app.config)
    chosen = set(ids)
    features: list[Features] = []
    query = (
        select(
            SourceRecord.id,
            SourceRecord.linkage_encrypted,
            SourceRecord.person_encrypted,
            SourceRecord.source_record_id,
            Agency.code,
        )
        .join(Agency, SourceRecord.agency_id == Agency.id)
        .where(SourceRecord.withdrawn_at.is_(None))
        .execution_options(yield_per=2000)
    )
    for record_id, linkage, person, srid, agency in db.session.execute(query):
        if record_id not in chosen:
            continue
        found = None
        if linkage is not None:
            found = features_from_json(
                orjson.loads(keyring.decrypt(linkage, linkage_context(agency, srid)))
            )
        if found is None:
            found = normalize_person(
                orjson.loads(keyring.decrypt(person, person_context(agency, srid)))
            )
        features.append(found)
    return features


def train(
    actor_name: str,
    sample: int = DEFAULT_SAMPLE,
    link_probability: float | None = None,
    review_probability: float | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> LinkageModelVersion:
    """Learn a model from the current records and store it as the newest version. The
    probabilities default to the current model's (a steward's choice stands)."""
    features = sample_features(sample, seed)
    if len(features) < MIN_RECORDS:
        raise ValueError(f"{len(features)} current records; training needs at least {MIN_RECORDS}")
    if progress is not None:
        progress(f"training on {len(features)} records")
    current = current_model()
    model = train_model(
        features,
        seed=seed,
        link_probability=link_probability or current.link_probability,
        review_probability=review_probability or current.review_probability,
    )
    row = LinkageModelVersion(
        created_by=actor_name,
        records=len(features),
        converged=bool(model.stats["converged"]),
        model=model.to_json(),
        stats={k: v for k, v in model.stats.items() if k not in {"records", "converged"}},
    )
    db.session.add(row)
    db.session.flush()
    forget_cached_model()
    return row


def describe() -> dict[str, Any]:
    """The model in use as stewards see it: provenance, probabilities, thresholds and
    the weight of every level (no record data)."""
    model = current_model()
    thresholds = model.thresholds
    versions = db.session.scalar(select(func.count()).select_from(LinkageModelVersion)) or 0
    return {
        "trained": model.learned,
        "versions": versions,
        "provenance": dict(model.stats) if model.learned else None,
        "prior": model.prior,
        "link_probability": model.link_probability if model.learned else None,
        "review_probability": model.review_probability if model.learned else None,
        "link_weight": round(thresholds.upper, 3),
        "review_weight": round(thresholds.lower, 3),
        "fields": {
            name: {
                level: {
                    "m": round(model.params.m[name][level], 6),
                    "u": round(model.params.u[name][level], 8),
                    "weight": round(model.params.weights[name][level], 3),
                }
                for level in levels
            }
            for name, levels in model.params.m.items()
        },
    }
