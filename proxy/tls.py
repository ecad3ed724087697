"""The server's TLS: the context a session upgrades to after an SSLRequest, and
the certificate hash SCRAM-SHA-256-PLUS binds a login to (RFC 5929)."""
from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

if TYPE_CHECKING:
    from proxy.config import TLSConfig


class TLSError(Exception):
    """The certificate or key cannot be served (the message never holds key material)."""


class ServerContext(ssl.SSLContext):
    """An SSL context that knows the channel binding data of its certificate."""

    end_point: bytes | None = None  # tls-server-end-point; None: undefined for this certificate


def end_point_hash(cert: x509.Certificate) -> bytes | None:
    """RFC 5929 section 4.1: the certificate's DER hashed with its signature's hash
    function, SHA-256 instead of MD5 or SHA-1; None for signatures without one
    (Ed25519, Ed448), for which no binding is defined, as in PostgreSQL."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    if algorithm is None:
        return None
    if isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return digest.finalize()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TLSError(f"cannot read the {what} {path}: {exc.strerror}") from None


def _certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificates(_read(path, "certificate"))[0]
    except ValueError:
        raise TLSError(f"{path} is not a PEM certificate (-----BEGIN CERTIFICATE-----)") from None


def _public_key_of_private(path: Path) -> bytes:
    try:
        key = serialization.load_pem_private_key(_read(path, "private key"), password=None)
    except TypeError:
        raise TLSError(f"the private key {path} is encrypted; anonproxy needs it unencrypted "
                       "(protected by its file mode instead)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TLSError(f"{path} is not a PEM private key (-----BEGIN PRIVATE KEY-----)") from None
    return _spki(key.public_key())


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_pair(cert_path: Path, key_path: Path) -> ServerContext:
    """The context serving this certificate and key; TLSError names what is wrong,
    a key that does not match the certificate included (OpenSSL's own message,
    'no certificate assigned', points elsewhere)."""
    cert = _certificate(cert_path)
    if _public_key_of_private(key_path) != _spki(cert.public_key()):
        raise TLSError(f"the private key {key_path} does not match the certificate {cert_path}")
    context = ServerContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # PostgreSQL's ssl_min_protocol_version
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the certificate {cert_path} with the key {key_path}: {exc}") from None
    context.end_point = end_point_hash(cert)
    return context


def server_context(tls: TLSConfig | None) -> ServerContext | None:
    return None if tls is None else load_pair(tls.cert, tls.key)
