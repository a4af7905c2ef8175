"""Access codes as text: making, reading back and checking their shape (pure, no I/O).

A code reads ``XXXX-XXXX-XXXX-XXXX-XXXX-XXXX``: six groups of four from an alphabet
without look-alikes (no 0/O, 1/I/L, U; people copy it from paper). The first two groups
are the public ``code_id`` the database looks up; the last four are the secret, stored
only as an argon2id hash. 16 secret characters of 30 are 78 bits: with at most a handful
of guesses per code before lockout, guessing is hopeless, and the birth date is asked too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUP = 4
ID_GROUPS = 2
SECRET_GROUPS = 4
LENGTH = GROUP * (ID_GROUPS + SECRET_GROUPS)

DEFAULT_DAYS = 90
MAX_DAYS = 365


@dataclass(frozen=True)
class CodeParts:
    code_id: str
    secret: str

    @property
    def text(self) -> str:
        """The code as printed: groups of four joined by hyphens."""
        whole = self.code_id + self.secret
        return "-".join(whole[i : i + GROUP] for i in range(0, len(whole), GROUP))


def new_code() -> CodeParts:
    """A fresh code from the operating system's CSPRNG."""
    pick = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    split = GROUP * ID_GROUPS
    return CodeParts(code_id=pick[:split], secret=pick[split:])


def parse(typed: str) -> CodeParts | None:
    """What a person typed, forgiving case, spaces and hyphens; None if it cannot be a code
    (a typo then costs the same as a wrong code, so nothing tells the two apart)."""
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -\t")
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    split = GROUP * ID_GROUPS
    return CodeParts(code_id=cleaned[:split], secret=cleaned[split:])


def lifetime(days: int | None) -> timedelta:
    """How long a new code lives: the default when not asked, at least a day, at most a
    year (a code is a standing key to a person's access history; it should be renewed)."""
    if days is None:
        return timedelta(days=DEFAULT_DAYS)
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"expires_in_days must be between 1 and {MAX_DAYS}")
    return timedelta(days=days)
