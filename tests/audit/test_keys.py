"""The signing key and log name come from the environment; a bad key stops start-up."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from caseops import create_app
from caseops.audit.keys import log_key
from caseops.config import ConfigError, load_settings

OTHER_SECRETS = {
    "CASEOPS_SECRET_KEY": "s" * 40,
    "CASEOPS_ENCRYPTION_KEYS": "k1:" + "a" * 43,
    "CASEOPS_PSEUDONYM_KEY": "p" * 40,
}


def test_production_requires_the_signing_key(tmp_path):
    environ = {"CASEOPS_ENV": "production", "CASEOPS_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match="CASEOPS_AUDIT_SIGNING_KEY"):
        load_settings(environ | OTHER_SECRETS)
    seed = base64.b64encode(b"k" * 32).decode()
    settings = load_settings(environ | OTHER_SECRETS | {"CASEOPS_AUDIT_SIGNING_KEY": seed})
    assert settings.audit_signing_key == seed
    assert settings.audit_log_origin == "caseops.local/access-log"
    assert settings.audit_seal_interval == 10


def test_demo_generates_a_seed_once(tmp_path):
    environ = {"CASEOPS_ENV": "demo", "CASEOPS_INSTANCE_PATH": str(tmp_path)}
    first = load_settings(environ).audit_signing_key
    assert first == load_settings(environ).audit_signing_key
    assert len(base64.b64decode(first)) == 32
    stored = json.loads((tmp_path / "demo-secrets.json").read_text())
    assert stored["CASEOPS_AUDIT_SIGNING_KEY"] == first


def test_seal_interval_and_origin_from_the_environment(tmp_path):
    environ = {
        "CASEOPS_ENV": "test",
        "CASEOPS_INSTANCE_PATH": str(tmp_path),
        "CASEOPS_AUDIT_SEAL_INTERVAL": "30",
        "CASEOPS_AUDIT_LOG_ORIGIN": "example.org/caseops-log",
    }
    settings = load_settings(environ)
    assert (settings.audit_seal_interval, settings.audit_log_origin) == (
        30,
        "example.org/caseops-log",
    )
    assert load_settings(environ | {"CASEOPS_AUDIT_SEAL_INTERVAL": ""}).audit_seal_interval == 0
    with pytest.raises(ConfigError, match="CASEOPS_AUDIT_SEAL_INTERVAL"):
        load_settings(environ | {"CASEOPS_AUDIT_SEAL_INTERVAL": "soon"})


def test_a_pem_key_works_like_its_seed():
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    seed = base64.b64encode(
        private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    ).decode()
    by_pem = log_key({"CASEOPS_AUDIT_SIGNING_KEY": pem})
    by_seed = log_key({"CASEOPS_AUDIT_SIGNING_KEY": seed})
    assert by_pem.key_id == by_seed.key_id and by_pem.public_pem() == by_seed.public_pem()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CASEOPS_AUDIT_SIGNING_KEY": "not-a-key"}, "CASEOPS_AUDIT_SIGNING_KEY"),
        ({"CASEOPS_AUDIT_SIGNING_KEY": base64.b64encode(b"x" * 16).decode()}, "32 bytes"),
        ({"CASEOPS_AUDIT_LOG_ORIGIN": "has space"}, "CASEOPS_AUDIT_LOG_ORIGIN"),
    ],
)
def test_an_unusable_key_or_origin_stops_start_up(database_url, overrides, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
