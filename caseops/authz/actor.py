"""Who is acting: passed explicitly into every service and into the audit writer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """An authenticated user (or the system itself) with the roles in force for this request.

    ``roles`` are already narrowed to an API token's scopes when the request used one.
    """

    username: str
    user_id: int | None = None
    agency: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    token_id: int | None = None
    # The local operator running the `caseops` CLI with database-owner rights.
    is_operator: bool = False

    @classmethod
    def operator(cls) -> Actor:
        return cls(username="<operator>", is_operator=True)

    @classmethod
    def unauthenticated(cls, claimed_username: str | None = None) -> Actor:
        """Someone not (yet) authenticated; the claimed name is kept for the log only."""
        return cls(username=(claimed_username or "<anonymous>")[:150])
