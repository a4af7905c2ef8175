"""caseops: client records shared across agencies only under consent and policy, every
view written to an immutable, verifiable access log."""

from caseops.app import create_app

__all__ = ["create_app"]
