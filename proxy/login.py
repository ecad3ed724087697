"""Start-up and authentication: SSL negotiation, the StartupMessage, SCRAM-SHA-256,
and the settings a session starts with. Runs before any statement; what it
accepts decides who the session is."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from proxy.errors import Fatal
from proxy.settings import Settings
from proxy.wire import messages as m
from proxy.wire.scram import MECHANISM, ScramError, ScramServer, mock_verifier

if TYPE_CHECKING:
    from proxy.session import Session

log = logging.getLogger("anonproxy.session")


async def log_in(session: Session) -> bool:
    """Start-up packets until a StartupMessage, then authentication and the session's
    settings; False for a connection that only sent a CancelRequest."""
    while True:
        msg = await session.next_message()
        if isinstance(msg, m.SSLRequest):
            await _answer_ssl(session)
        elif isinstance(msg, m.GSSENCRequest):
            session.writer.write(b"N")
        elif isinstance(msg, m.CancelRequest):
            session.server.cancel(msg.process_id, msg.secret_key)
            return False
        elif isinstance(msg, m.StartupMessage):
            await _begin_session(session, msg)
            return True


async def _answer_ssl(session: Session) -> None:
    context = session.server.ssl_context
    if context is None or session._tls:
        session.writer.write(b"N")
        return
    if session.decoder.buffered:
        raise m.ProtocolError("data received before the TLS handshake")
    session.writer.write(b"S")
    await session.writer.drain()
    await session.writer.start_tls(context)
    session._tls = True


async def _begin_session(session: Session, msg: m.StartupMessage) -> None:
    params = msg.params
    unknown = [k for k in params if k.startswith("_pq_.")]
    if msg.minor > 0 or unknown:
        session.send(m.negotiate_protocol_version(0, unknown))
    session.user = params.get("user", "")
    if not session.user:
        raise Fatal("28000", "no PostgreSQL user name specified in startup packet")
    await _authenticate(session)
    database = params.get("database") or session.user
    if database != session.server.config.database:
        raise Fatal("3D000", f'database "{database}" does not exist')
    startup = {k: v for k, v in params.items() if k not in ("user", "database", "options")}
    startup.update(_options_settings(params.get("options", "")))
    user = session.server.config.users[session.user]
    session.settings = Settings(session.user, startup, session.server.config.roles[user.role].statement_timeout_ms)
    session.ctx = session.server.rewrite_context(user, session.settings, session.process_id)
    for name, value in session.settings.reported():
        session.send(m.parameter_status(name, value))
    session.send(m.backend_key_data(session.process_id, session.secret_key))
    session.send(m.ready_for_query("I"))
    await session.flush()
    log.info("session %d: user %s connected", session.process_id, session.user)


async def _authenticate(session: Session) -> None:
    user = session.server.config.users.get(session.user)
    verifier = user.verifier if user else mock_verifier(session.user, session.server.secret)
    scram = ScramServer(verifier, valid=user is not None)
    failed = Fatal("28P01", f'password authentication failed for user "{session.user}"')
    session.send(m.authentication_sasl([MECHANISM]))
    await session.flush()
    first = await session.next_message()
    if not isinstance(first, m.AuthResponse):
        raise m.ProtocolError("expected SASL response")
    mechanism, data = m.parse_sasl_initial(first.payload)
    if mechanism != MECHANISM:
        raise Fatal("28000", f"SASL authentication mechanism {mechanism} is not supported")
    try:
        session.send(m.authentication_sasl_continue(scram.handle_client_first(data)))
        await session.flush()
        final = await session.next_message()
        if not isinstance(final, m.AuthResponse):
            raise m.ProtocolError("expected SASL response")
        session.send(m.authentication_sasl_final(scram.handle_client_final(final.payload)))
    except ScramError:
        log.info("session %d: authentication failed for user %s", session.process_id, session.user)
        raise failed from None
    session.send(m.authentication_ok())


def _options_settings(options: str) -> dict[str, str]:
    """The startup `options` string: '-c name=value' pairs (libpq's PGOPTIONS)."""
    out: dict[str, str] = {}
    words = options.replace("--", "-c ").split()
    for i, word in enumerate(words):
        pair = words[i + 1] if word == "-c" and i + 1 < len(words) else (word[2:] if word.startswith("-c") else "")
        if "=" in pair:
            key, value = pair.split("=", 1)
            out[key.replace("-", "_")] = value
    return out
