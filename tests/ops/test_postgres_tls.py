"""TLS to PostgreSQL: ``sslmode=verify-full`` against a cluster this test starts with
``ssl = on``, a certificate from a CA it generates, and ``hostssl``-only access.

caseops connects (migrates, answers /readyz) over a verified, encrypted connection; a
server whose certificate another CA issued, or that was issued for another name, is
refused before any credential or query is sent; a plain connection is refused by the
server. Like tests/test_outage.py it brings its own cluster, so it runs once per
``make test``, in the SQLite run; in CI missing server binaries fail it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from bench.soak import Cluster
from caseops import create_app
from tests.conftest import BACKEND
from tests.ops.tls import Issued, issue


@dataclass
class TlsCluster:
    cluster: Cluster
    issued: Issued

    def url(self, host: str = "localhost", ca: Path | None = None, mode: str = "verify-full"):
        root = ca or self.issued.ca
        return (
            f"postgresql+psycopg://postgres@{host}:{self.cluster.port}/postgres"
            f"?sslmode={mode}&sslrootcert={root}"
        )


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory) -> Iterator[TlsCluster]:
    if BACKEND != "sqlite":
        pytest.skip("runs once per make test, in the SQLite run: it starts its own cluster")
    if not Cluster.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL 15 binaries are missing in CI (/usr/lib/postgresql/15/bin)")
        pytest.skip("needs PostgreSQL server binaries (initdb, pg_ctl) in CASEOPS_PG_BIN")
    issued = issue(tmp_path_factory.mktemp("pgtls"), dns="localhost", ip=None)
    cluster = Cluster().init()
    try:
        data = cluster.data
        shutil.copyfile(issued.certificate, data / "server.crt")
        shutil.copyfile(issued.key, data / "server.key")
        os.chmod(data / "server.key", 0o600)
        if cluster.as_postgres:
            for name in ("server.crt", "server.key"):
                shutil.chown(data / name, "postgres", "postgres")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "ssl_min_protocol_version = 'TLSv1.2'\n"
            )
        # Over TCP only TLS is accepted (the local socket stays for the cluster's owner).
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostssl all all ::1/128 trust\n"
        )
        cluster.start()
        yield TlsCluster(cluster, issued)
    finally:
        cluster.destroy()


def test_caseops_runs_over_a_verified_tls_connection(tls_cluster):
    url = tls_cluster.url()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    upgraded = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    with app.app_context():
        assert app.test_client().get("/readyz").status_code == 200
        from caseops.extensions import db

        with db.engine.connect() as conn:
            ssl, version = conn.execute(
                text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).one()
        db.engine.dispose()
    assert ssl is True and version in ("TLSv1.2", "TLSv1.3")


def _connect(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def test_a_server_certified_by_another_ca_is_refused(tls_cluster, tmp_path):
    stranger = issue(tmp_path / "other", dns="localhost", ip=None)
    with pytest.raises(Exception, match="certificate verify failed"):
        _connect(tls_cluster.url(ca=stranger.ca))


def test_a_certificate_for_another_name_is_refused(tls_cluster):
    """The certificate names localhost; reaching the same server as 127.0.0.1 must fail
    under verify-full (it would pass under verify-ca: that is why verify-full)."""
    with pytest.raises(Exception, match=r"does not match host name|server certificate for"):
        _connect(tls_cluster.url(host="127.0.0.1"))
    _connect(tls_cluster.url(host="127.0.0.1", mode="verify-ca"))


def test_the_server_refuses_a_connection_without_tls(tls_cluster):
    plain = f"host=127.0.0.1 port={tls_cluster.cluster.port} user=postgres sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match=r"no encryption|SSL off"):
        psycopg.connect(plain, connect_timeout=5).close()
