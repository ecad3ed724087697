"""SCRAM-SHA-256-PLUS: tls-server-end-point channel binding (RFC 5929), the gs2
header's flags (RFC 5802 section 6), checked against scramp's independent client."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from scramp import ScramClient

from proxy.tls import end_point_hash
from proxy.wire.scram import MECHANISM, MECHANISM_PLUS, ScramError, ScramServer, make_verifier, mechanisms

PASSWORD = "s3cret"
SERVER_CB = hashlib.sha256(b"our certificate").digest()
OTHER_CB = hashlib.sha256(b"a man in the middle's certificate").digest()

# Made with `openssl req -x509 -sha1`: cryptography no longer signs with SHA-1.
SHA1_CERT = b"""-----BEGIN CERTIFICATE-----
MIIBfDCCASSgAwIBAgIUenk25yruVD7jqCwjbFkLeue7JUIwCQYHKoZIzj0EATAU
MRIwEAYDVQQDDAlzaGExLXRlc3QwIBcNMjYxMTIzMTU0MDU3WhgPMjEyNjEwMzAx
NTQwNTdaMBQxEjAQBgNVBAMMCXNoYTEtdGVzdDBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABMhUxRQi1oUM+Aqm846s2DtmGZlKZundYC8FUqXz6MxC0sYovrYv0D1i
zT5aw6MJYNXQycWzdJdXFc1RualfHXujUzBRMB0GA1UdDgQWBBQxpNFjXRMFCq4v
A9AOEtg0CcLzjTAfBgNVHSMEGDAWgBQxpNFjXRMFCq4vA9AOEtg0CcLzjTAPBgNV
HRMBAf8EBTADAQH/MAkGByqGSM49BAEDRwAwRAIgAwLqAMex/DvL4mzVzugGxj51
Iqy8bmRm1kcIAR7Bzd8CIGunRzPqoN59kCYnvGTogscxbTSqDXpElGR8JH+dFZDY
-----END CERTIFICATE-----
"""


def exchange(client: ScramClient, server: ScramServer) -> None:
    """A whole exchange; raises ScramError where the server refuses."""
    client.set_server_first(server.handle_client_first(client.get_client_first().encode()).decode())
    client.set_server_final(server.handle_client_final(client.get_client_final().encode()).decode())


def server(mechanism: str = MECHANISM_PLUS, cb_data: bytes | None = SERVER_CB) -> ScramServer:
    return ScramServer(make_verifier(PASSWORD), mechanism=mechanism, cb_data=cb_data)


def test_over_tls_both_mechanisms_are_offered_plus_first_and_without_tls_only_the_plain_one():
    assert mechanisms(SERVER_CB) == [MECHANISM_PLUS, MECHANISM]
    assert mechanisms(None) == [MECHANISM]
    with pytest.raises(ValueError):
        ScramServer(make_verifier(PASSWORD), mechanism=MECHANISM_PLUS, cb_data=None)


def test_plus_with_our_certificate_hash_logs_in():
    client = ScramClient([MECHANISM_PLUS], "alice", PASSWORD, channel_binding=("tls-server-end-point", SERVER_CB))
    exchange(client, server())
    assert client.gs2_header.gs2_char == "p"


def test_plus_with_another_certificate_hash_is_refused():
    # A man in the middle terminates TLS with its own certificate: the client binds to that one.
    client = ScramClient([MECHANISM_PLUS], "alice", PASSWORD, channel_binding=("tls-server-end-point", OTHER_CB))
    with pytest.raises(ScramError, match="channel binding mismatch"):
        exchange(client, server())


def test_plus_with_the_right_password_but_the_binding_left_out_of_c_is_refused():
    s = server()
    first = s.handle_client_first(b"p=tls-server-end-point,,n=,r=abc").decode()
    nonce = first.split(",")[0][2:]
    c = base64.b64encode(b"p=tls-server-end-point,,").decode()  # the header alone, no cb-data
    with pytest.raises(ScramError, match="channel binding mismatch"):
        s.handle_client_final(f"c={c},r={nonce},p={base64.b64encode(bytes(32)).decode()}".encode())


def test_y_is_refused_when_plus_was_offered_and_accepted_without_tls():
    # 'y': the client could bind but believes the server cannot. Over TLS we offered
    # -PLUS, so someone removed it from the list: a downgrade (RFC 5802 section 6).
    downgraded = ScramClient([MECHANISM], "alice", PASSWORD, channel_binding=("tls-server-end-point", OTHER_CB))
    assert downgraded.gs2_header.gs2_char == "y"
    with pytest.raises(ScramError, match="downgrade"):
        exchange(downgraded, server(MECHANISM))
    honest = ScramClient([MECHANISM], "alice", PASSWORD, channel_binding=("tls-server-end-point", OTHER_CB))
    exchange(honest, server(MECHANISM, cb_data=None))


def test_n_is_allowed_with_or_without_tls():
    for cb_data in (SERVER_CB, None):
        client = ScramClient([MECHANISM], "alice", PASSWORD)
        exchange(client, server(MECHANISM, cb_data))
        assert client.gs2_header.gs2_char == "n"


@pytest.mark.parametrize("cb_data", [SERVER_CB, None])
def test_binding_data_with_the_plain_mechanism_is_refused(cb_data):
    with pytest.raises(ScramError, match="not selected"):
        server(MECHANISM, cb_data).handle_client_first(b"p=tls-server-end-point,,n=,r=abc")


@pytest.mark.parametrize("first, error", [
    (b"n,,n=,r=abc", "without channel binding data"),
    (b"y,,n=,r=abc", "without channel binding data"),
    (b"p=tls-unique,,n=,r=abc", "unsupported SCRAM channel binding type"),
    (b"p=tls-server-end-point,a=admin,n=,r=abc", "authorization identities"),
    (b"q,,n=,r=abc", "malformed"),
])
def test_plus_refuses_bad_gs2_headers(first, error):
    with pytest.raises(ScramError, match=error):
        server().handle_client_first(first)


def _certificate(key, algorithm) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, algorithm))


def test_end_point_hash_uses_the_signature_hash():
    for algorithm, digest in ((hashes.SHA256(), hashlib.sha256), (hashes.SHA384(), hashlib.sha384),
                              (hashes.SHA512(), hashlib.sha512)):
        cert = _certificate(ec.generate_private_key(ec.SECP384R1()), algorithm)
        assert end_point_hash(cert) == digest(cert.public_bytes(serialization.Encoding.DER)).digest()


def test_end_point_hash_of_a_sha1_certificate_is_sha256():
    cert = x509.load_pem_x509_certificate(SHA1_CERT)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA1)
    assert end_point_hash(cert) == hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def test_end_point_hash_is_undefined_for_ed25519():
    assert end_point_hash(_certificate(ed25519.Ed25519PrivateKey.generate(), None)) is None
