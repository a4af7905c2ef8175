"""Configuration comes only from the environment, and production refuses to run unsafe."""

from __future__ import annotations

import json
import stat

import pytest

from caseops.config import ConfigError, load_settings

SECRETS = {
    "CASEOPS_SECRET_KEY": "s" * 40,
    "CASEOPS_ENCRYPTION_KEYS": "k1:" + "a" * 43,
    "CASEOPS_PSEUDONYM_KEY": "p" * 40,
    "CASEOPS_AUDIT_SIGNING_KEY": "c" * 43 + "=",
}


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_production_refuses_to_start_without_each_secret(missing, tmp_path):
    environ = {"CASEOPS_ENV": "production", "CASEOPS_INSTANCE_PATH": str(tmp_path)} | {
        name: value for name, value in SECRETS.items() if name != missing
    }
    with pytest.raises(ConfigError, match=missing):
        load_settings(environ)


def test_production_is_the_default_environment(tmp_path):
    with pytest.raises(ConfigError, match="CASEOPS_SECRET_KEY"):
        load_settings({"CASEOPS_INSTANCE_PATH": str(tmp_path)})


def test_production_with_secrets_uses_them(tmp_path):
    settings = load_settings(
        {"CASEOPS_ENV": "production", "CASEOPS_INSTANCE_PATH": str(tmp_path)} | SECRETS
    )
    assert settings.secret_key == SECRETS["CASEOPS_SECRET_KEY"]
    assert settings.cookie_secure is True
    assert settings.database_url == f"sqlite:///{tmp_path / 'caseops.sqlite3'}"
    assert not (tmp_path / "demo-secrets.json").exists()


def test_demo_generates_secrets_once_and_keeps_them_private(tmp_path):
    environ = {"CASEOPS_ENV": "demo", "CASEOPS_INSTANCE_PATH": str(tmp_path)}
    first = load_settings(environ)
    second = load_settings(environ)
    assert first.secret_key == second.secret_key
    assert first.encryption_keys == second.encryption_keys
    stored = tmp_path / "demo-secrets.json"
    assert json.loads(stored.read_text())["CASEOPS_SECRET_KEY"] == first.secret_key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_test_mode_generates_throwaway_secrets(tmp_path):
    environ = {"CASEOPS_ENV": "test", "CASEOPS_INSTANCE_PATH": str(tmp_path)}
    assert load_settings(environ).secret_key != load_settings(environ).secret_key


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CASEOPS_ENV", "staging", "CASEOPS_ENV must be one of"),
        ("CASEOPS_IDLE_TIMEOUT", "soon", "CASEOPS_IDLE_TIMEOUT must be a whole number"),
        ("CASEOPS_ABSOLUTE_TIMEOUT", "-5", "CASEOPS_ABSOLUTE_TIMEOUT must be positive"),
        ("CASEOPS_COOKIE_SECURE", "maybe", "CASEOPS_COOKIE_SECURE must be true or false"),
        ("CASEOPS_TRUSTED_PROXIES", "x", "CASEOPS_TRUSTED_PROXIES must be a whole number"),
    ],
)
def test_bad_values_are_named(name, value, message, tmp_path):
    environ = {"CASEOPS_ENV": "test", "CASEOPS_INSTANCE_PATH": str(tmp_path), name: value}
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_every_variable_is_documented():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    source = (root / "caseops" / "config.py").read_text()
    documented = (root / ".env.example").read_text() + (root / "README.md").read_text()
    import re

    for name in sorted(set(re.findall(r"CASEOPS_[A-Z_]+", source))):
        assert name in documented, f"{name} is not in README.md / .env.example"
