"""Start-up and authentication: SSL negotiation, the StartupMessage, TLS when
required, SCRAM-SHA-256(-PLUS), and the settings a session starts with. Runs
before any statement; what it accepts decides who the session is."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import Counter
from typing import TYPE_CHECKING, NoReturn

from proxy.errors import Fatal
from proxy.settings import Settings
from proxy.wire import messages as m
from proxy.wire.scram import DEFAULT_ITERATIONS, ScramError, ScramServer, mechanisms, mock_verifier

if TYPE_CHECKING:
    from proxy.config import Config
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
    if not session._tls and _requires_tls(session.server.config, session.user, session.server.secret):
        await _refuse_plaintext(session)
    await _authenticate(session)
    database = params.get("database") or session.user
    if database != session.server.config.database:
        raise Fatal("3D000", f'database "{database}" does not exist')
    session.server.admit(session)  # a place among limits.max_connections, or 53300
    startup = {k: v for k, v in params.items() if k not in ("user", "database", "options")}
    startup.update(_options_settings(params.get("options", "")))
    user = session.server.config.users[session.user]
    role = session.server.config.roles[user.role]
    session.settings = Settings(session.user, startup, role.statement_timeout_ms,
                                role.budget.max_epsilon if role.budget else None)
    session.ctx = session.server.rewrite_context(user, session.settings, session.process_id)
    for name, value in session.settings.reported():
        session.send(m.parameter_status(name, value))
    session.send(m.backend_key_data(session.process_id, session.secret_key))
    session.send(m.ready_for_query("I"))
    await session.flush()
    log.info("session %d: user %s connected", session.process_id, session.user)


def _requires_tls(config: Config, name: str, secret: bytes) -> bool:
    """Whether a login by this name must come over TLS, decided before any password
    is exchanged (PostgreSQL's hostssl). An unknown name gets the answer a configured
    one would, with the same odds: a stable coin keyed by the server secret, weighted
    by the share of users that require TLS. Answering unknown names always one way
    would tell them from the users answered the other way."""
    if config.tls is not None and config.tls.require:
        return True
    user = config.users.get(name)
    if user is not None:
        return user.require_tls
    share = sum(u.require_tls for u in config.users.values()) / max(len(config.users), 1)
    coin = hmac.new(secret, b"require_tls:" + name.encode(), hashlib.sha256).digest()
    return int.from_bytes(coin[:8], "big") < share * (1 << 64)


async def _refuse_plaintext(session: Session) -> NoReturn:
    log.warning("session %d: plaintext connection refused for user %r from %s: TLS is required",
                session.process_id, session.user, _peer(session))
    raise Fatal("28000", f'connection requires TLS (SSL) for user "{session.user}"',
                hint="Connect with sslmode=require (or verify-full).")


def _peer(session: Session) -> str:
    peer = session.writer.get_extra_info("peername")
    return str(peer[0]) if peer else "unknown"


def _usual_iterations(config: Config) -> int:
    """The iteration count most configured users have: an unknown user's mock gets it too."""
    counts = Counter(u.verifier.iterations for u in config.users.values())
    return counts.most_common(1)[0][0] if counts else DEFAULT_ITERATIONS


def _channel_binding(session: Session) -> bytes | None:
    """Our certificate's tls-server-end-point hash on a TLS connection, else None."""
    context = session.server.ssl_context
    return context.end_point if session._tls and context is not None else None


async def _authenticate(session: Session) -> None:
    config = session.server.config
    user = config.users.get(session.user)
    verifier = user.verifier if user else mock_verifier(session.user, session.server.secret,
                                                        _usual_iterations(config))
    cb_data = _channel_binding(session)
    offered = mechanisms(cb_data)
    session.send(m.authentication_sasl(offered))
    await session.flush()
    first = await session.next_message()
    if not isinstance(first, m.AuthResponse):
        raise m.ProtocolError("expected SASL response")
    mechanism, data = m.parse_sasl_initial(first.payload)
    if mechanism not in offered:
        raise Fatal("28000", f"SASL authentication mechanism {mechanism} is not supported")
    scram = ScramServer(verifier, valid=user is not None, mechanism=mechanism, cb_data=cb_data)
    try:
        session.send(m.authentication_sasl_continue(scram.handle_client_first(data)))
        await session.flush()
        final = await session.next_message()
        if not isinstance(final, m.AuthResponse):
            raise m.ProtocolError("expected SASL response")
        session.send(m.authentication_sasl_final(scram.handle_client_final(final.payload)))
    except ScramError as exc:
        await _fail(session, "no such user" if user is None else str(exc))
    session.send(m.authentication_ok())


async def _fail(session: Session, reason: str) -> NoReturn:
    """A failed login: logged whatever the verbosity, the name escaped (%r) so that
    no name can forge a log line, never a password or a proof; answered after
    limits.auth_delay, which costs a guesser that much per attempt."""
    log.warning("session %d: password authentication failed for user %r from %s: %s",
                session.process_id, session.user, _peer(session), reason)
    await asyncio.sleep(session.server.config.limits.auth_delay_ms / 1000)
    raise Fatal("28P01", f'password authentication failed for user "{session.user}"')


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
