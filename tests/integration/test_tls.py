"""TLS: a proxy configured with a certificate answers SSLRequest with a real handshake."""
from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from tests.integration.conftest import start_proxy, stop_proxy, write_config

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory, demo_db):
    directory = tmp_path_factory.mktemp("tls")
    self_signed(directory)
    config = write_config(directory, demo_db, extra="tls: {cert: server.crt, key: server.key}\n")
    process, port = start_proxy(config)
    yield directory, port
    stop_proxy(process)


def test_tls_session_with_verified_certificate(tls_proxy):
    directory, port = tls_proxy
    dsn = (f"postgresql://admin:admin-pw@localhost:{port}/demo?sslmode=verify-full"
           f"&sslrootcert={directory / 'server.crt'}")
    with psycopg.connect(dsn) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 10000


def test_plain_connections_still_work_when_tls_is_configured(tls_proxy):
    _, port = tls_proxy
    with psycopg.connect(f"postgresql://admin:admin-pw@127.0.0.1:{port}/demo?sslmode=disable") as conn:
        assert not conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)
