"""Password hashing with argon2id (argon2-cffi's current recommended parameters)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12

# RFC 9106's low-memory profile in production; the cheapest valid one only for tests,
# where thousands of hashes would otherwise dominate the suite.
PROFILES = {
    "standard": profiles.RFC_9106_LOW_MEMORY,
    "test": profiles.CHEAPEST,
}
_hasher = PasswordHasher.from_parameters(PROFILES["standard"])


def use_profile(name: str) -> None:
    """Select the argon2 parameters; hashes made with others are upgraded at next login."""
    global _hasher
    _hasher = PasswordHasher.from_parameters(PROFILES[name])
    _dummy_hash.cache_clear()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; a missing hash still costs one verification."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


@cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so timing does not reveal which names exist."""
    return _hasher.hash("caseops-no-such-user")


def password_problems(password: str, username: str) -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if username and username.lower() in password.lower():
        problems.append("Must not contain the username.")
    return problems
