"""Configuration, read only from the environment.

Production refuses to start without its secrets; demo mode generates them once and
keeps them in ``instance/demo-secrets.json`` so every gunicorn worker and every
restart agrees; test mode generates throw-away values unless given.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENVIRONMENTS = ("production", "demo", "test")

# Variables holding secrets: generated outside production, mandatory in production.
SECRET_VARIABLES = {
    "CASEOPS_SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "CASEOPS_ENCRYPTION_KEYS": lambda: (
        "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    ),
    # HMAC key for identifier pseudonyms (record linkage and search). Changing it means
    # `caseops link rebuild`: every stored pseudonym is made with it.
    "CASEOPS_PSEUDONYM_KEY": lambda: secrets.token_urlsafe(32),
    # Ed25519 key signing the access log's checkpoints: base64 of a 32-byte seed (or a
    # PKCS#8 PEM). Auditors pin its public key; keep it stable.
    "CASEOPS_AUDIT_SIGNING_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
}

DEMO_INTERMEDIARY = "caseops"
"""The intermediary's name outside production, unless CASEOPS_INTERMEDIARY_NAME says another."""

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


class ConfigError(RuntimeError):
    """Raised at start-up when the environment cannot run the service safely."""


@dataclass(frozen=True)
class Settings:
    """The typed view of the environment that the app factory turns into Flask config."""

    env: str
    database_url: str
    secret_key: str
    encryption_keys: str
    pseudonym_key: str
    audit_signing_key: str
    audit_log_origin: str
    audit_seal_interval: int
    instance_path: Path
    cookie_secure: bool
    idle_timeout_seconds: int
    absolute_timeout_seconds: int
    ratelimit_storage_uri: str
    login_rate_limit: str
    trusted_proxies: int
    log_level: str
    # Retired audit signing keys, still published (docs/operations.md, key rotation).
    audit_previous_public_keys: str = ""
    # /metrics (caseops/metrics.py) and log lines (caseops/observability.py).
    metrics_allow: str = "127.0.0.1,::1"
    metrics_token: str = ""
    log_format: str = "text"
    # This deployment's legal name as an intermediary (42 CFR 2.11, 2.31(a)(4)(ii)): a
    # consent designating recipients generally must name it (docs/part2-2024.md). Empty
    # in production unless set: then no consent may use a general designation.
    intermediary_name: str = ""
    # The deployment's time zone (IANA name): every page shows dates and times in it; the
    # API stays ISO 8601 with offsets (docs/desk.md).
    time_zone: str = "UTC"
    # Whether a client's access statement and /my pages name the staff who looked
    # (issue 19): off unless the deployment turns it on (docs/access-statement.md).
    transparency_names: bool = False

    def flask_config(self) -> dict[str, object]:
        return {
            "CASEOPS_ENV": self.env,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SECRET_KEY": self.secret_key,
            "CASEOPS_ENCRYPTION_KEYS": self.encryption_keys,
            "CASEOPS_PSEUDONYM_KEY": self.pseudonym_key,
            "CASEOPS_AUDIT_SIGNING_KEY": self.audit_signing_key,
            "CASEOPS_AUDIT_LOG_ORIGIN": self.audit_log_origin,
            "CASEOPS_AUDIT_SEAL_INTERVAL": self.audit_seal_interval,
            "CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS": self.audit_previous_public_keys,
            "CASEOPS_METRICS_ALLOW": self.metrics_allow,
            "CASEOPS_METRICS_TOKEN": self.metrics_token,
            "CASEOPS_LOG_FORMAT": self.log_format,
            "CASEOPS_INTERMEDIARY_NAME": self.intermediary_name,
            "CASEOPS_TIME_ZONE": self.time_zone,
            "CASEOPS_TRANSPARENCY_NAMES": self.transparency_names,
            "SESSION_COOKIE_NAME": "caseops_session",
            "SESSION_COOKIE_SECURE": self.cookie_secure,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": self.cookie_secure,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "CASEOPS_IDLE_TIMEOUT": self.idle_timeout_seconds,
            "CASEOPS_ABSOLUTE_TIMEOUT": self.absolute_timeout_seconds,
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_uri,
            "RATELIMIT_HEADERS_ENABLED": True,
            "CASEOPS_LOGIN_RATE_LIMIT": self.login_rate_limit,
            "CASEOPS_TRUSTED_PROXIES": self.trusted_proxies,
            "CASEOPS_LOG_LEVEL": self.log_level,
            "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
            "WTF_CSRF_CHECK_DEFAULT": False,
            "WTF_CSRF_TIME_LIMIT": None,
        }


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number of seconds, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _count(environ: Mapping[str, str], name: str) -> int:
    raw = environ.get(name) or "0"
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number (0 or more), got {raw!r}")
    return int(raw)


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = environ.get(name) or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _time_zone(environ: Mapping[str, str]) -> str:
    """An IANA time zone name (``America/Chicago``), checked against the zone database now
    so a typo stops the start, not the first page that shows a date."""
    name = (environ.get("CASEOPS_TIME_ZONE") or "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"CASEOPS_TIME_ZONE must be an IANA time zone name such as America/Chicago or "
            f"Europe/Paris, got {name!r}"
        ) from exc
    return name


def _demo_secrets(instance_path: Path) -> dict[str, str]:
    """Generate demo secrets once and keep them, so sessions and ciphertexts survive restarts."""
    path = instance_path / "demo-secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = {name: make() for name, make in SECRET_VARIABLES.items() if name not in stored}
    if missing:
        instance_path.mkdir(parents=True, exist_ok=True)
        stored.update(missing)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
    return stored


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default ``os.environ``); raise ConfigError if unsafe."""
    environ = os.environ if environ is None else environ
    env = environ.get("CASEOPS_ENV", "production")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"CASEOPS_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    instance_path = Path(environ.get("CASEOPS_INSTANCE_PATH") or DEFAULT_INSTANCE)

    secret_values: dict[str, str] = {}
    generated: Mapping[str, str] = {}
    if env == "demo":
        generated = _demo_secrets(instance_path)
    for name, make in SECRET_VARIABLES.items():
        value = environ.get(name)
        if not value:
            if env == "production":
                raise ConfigError(
                    f"{name} is not set. In production every secret comes from the "
                    f"environment; see .env.example. (Set CASEOPS_ENV=demo to try caseops "
                    f"with generated demo secrets.)"
                )
            value = generated.get(name) or make()
        secret_values[name] = value

    database_url = environ.get("CASEOPS_DATABASE_URL") or (
        f"sqlite:///{instance_path / 'caseops.sqlite3'}"
    )
    return Settings(
        env=env,
        database_url=database_url,
        secret_key=secret_values["CASEOPS_SECRET_KEY"],
        encryption_keys=secret_values["CASEOPS_ENCRYPTION_KEYS"],
        pseudonym_key=secret_values["CASEOPS_PSEUDONYM_KEY"],
        audit_signing_key=secret_values["CASEOPS_AUDIT_SIGNING_KEY"],
        audit_log_origin=environ.get("CASEOPS_AUDIT_LOG_ORIGIN") or "caseops.local/access-log",
        # Seconds between background seal runs; 0 turns the background sealer off.
        audit_seal_interval=(
            _count(environ, "CASEOPS_AUDIT_SEAL_INTERVAL")
            if environ.get("CASEOPS_AUDIT_SEAL_INTERVAL")
            else (0 if env == "test" else 10)
        ),
        instance_path=instance_path,
        cookie_secure=_bool(environ, "CASEOPS_COOKIE_SECURE", True),
        idle_timeout_seconds=_int(environ, "CASEOPS_IDLE_TIMEOUT", 15 * 60),
        absolute_timeout_seconds=_int(environ, "CASEOPS_ABSOLUTE_TIMEOUT", 12 * 60 * 60),
        ratelimit_storage_uri=environ.get("CASEOPS_RATELIMIT_STORAGE_URI", "memory://"),
        login_rate_limit=environ.get("CASEOPS_LOGIN_RATE_LIMIT", "20 per minute"),
        trusted_proxies=_count(environ, "CASEOPS_TRUSTED_PROXIES"),
        log_level=environ.get("CASEOPS_LOG_LEVEL", "INFO"),
        audit_previous_public_keys=environ.get("CASEOPS_AUDIT_PREVIOUS_PUBLIC_KEYS", ""),
        metrics_allow=environ.get("CASEOPS_METRICS_ALLOW", "127.0.0.1,::1"),
        metrics_token=environ.get("CASEOPS_METRICS_TOKEN", ""),
        log_format=_choice(environ, "CASEOPS_LOG_FORMAT", ("text", "json")),
        time_zone=_time_zone(environ),
        transparency_names=_bool(environ, "CASEOPS_TRANSPARENCY_NAMES", False),
        intermediary_name=" ".join(
            environ.get(
                "CASEOPS_INTERMEDIARY_NAME", "" if env == "production" else DEMO_INTERMEDIARY
            ).split()
        ),
    )
