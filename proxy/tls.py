"""The server's TLS: the context a session upgrades to after an SSLRequest."""
from __future__ import annotations

import ssl

from proxy.config import TLSConfig


def server_context(tls: TLSConfig | None) -> ssl.SSLContext | None:
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    return context
