"""The `anonproxy` command."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys

from proxy.config import Config, ConfigError, load_config, parse_listen
from proxy.wire.scram import DEFAULT_ITERATIONS, make_verifier

DESCRIPTION = """\
anonproxy: a PostgreSQL-compatible privacy proxy. Clients (psql, drivers, BI
tools) connect to it as to PostgreSQL; each login's role decides what it sees."""

EPILOG = """\
examples:
  anonproxy serve --config policies/demo.yaml
  anonproxy check policies/demo.yaml
  anonproxy explain --config policies/demo.yaml --user analyst "SELECT email FROM customers"
  anonproxy risk --config policies/demo.yaml --role analyst
  anonproxy budget --config policies/demo.yaml --history
  anonproxy passwd            # prompts, then prints a verifier for users.<name>.password
"""


def _report(path: str, exc: ConfigError) -> None:
    print(f"anonproxy: {path} has {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        _report(path, exc)
        raise SystemExit(2) from None


def _open_backend(config: Config, path: str):
    """The configured backend, or None after listing why it cannot be opened."""
    from proxy.server import open_backend

    try:
        return open_backend(config)
    except ConfigError as exc:
        _report(path, exc)
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    from proxy.server import serve_forever

    config = _load(args.config)
    host, port = config.host, config.port
    if args.listen:
        try:
            host, port = parse_listen(args.listen)
        except ValueError as exc:
            print(f"anonproxy: --listen: {exc}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        ready = asyncio.Event()
        serving = asyncio.create_task(serve_forever(config, host, port, ready))
        await asyncio.wait([serving, asyncio.create_task(ready.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()  # raises the start-up error
        print(f"anonproxy {config.backend.kind} backend ({config.backend.describe}) "
              f"listening on {host}:{port}, database \"{config.database}\"", flush=True)
        print(f'connect with: psql "postgresql://USER@{host}:{port}/{config.database}"', flush=True)
        print("press Ctrl-C to stop", flush=True)
        try:
            await serving
        except asyncio.CancelledError:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:
        _report(args.config, exc)
        return 2
    except OSError as exc:
        print(f"anonproxy: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    print("anonproxy stopped", flush=True)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from proxy.risk.report import Settings as RiskSettings

    config = _load(args.config)
    backend = _open_backend(config, args.config)
    if backend is None:
        return 2
    try:
        results = _measure_risk(config, backend, sorted(config.roles), RiskSettings(), lambda step: None)
    finally:
        backend.close()
    tls = "none" if config.tls is None else "required" if config.tls.require else "optional"
    print(f"{args.config}: ok ({len(config.users)} users, {len(config.roles)} roles, "
          f"{config.backend.kind} backend, TLS {tls})")
    failed = [r for r in results if not r.passed]
    for role in failed:
        for table in (t for t in role.tables if not t.passed):
            print(f"anonproxy: {'error' if args.strict else 'warning'}: role {role.role}, table {table.table}: "
                  f"{_worst(table)} (threshold {100 * RiskSettings().threshold:g}%); see "
                  f"`anonproxy risk --config {args.config} --role {role.role}`", file=sys.stderr)
    return 1 if failed and args.strict else 0


def _worst(table) -> str:
    """The table's largest measured share of people singled out, in words."""
    shares = []
    if table.classes is not None:
        shares.append((table.classes.alone.value, "alone in their quasi-identifier class"))
    if table.unicity is not None:
        shares += [(s.value, f"singled out by {m} known record{'s' if m > 1 else ''}")
                   for m, s in table.unicity.by_points.items() if m <= 2]
    value, what = max(shares)
    return f"{100 * value:.1f}% of people {what}"


def _measure_risk(config: Config, backend, roles: list[str], settings, progress) -> list:
    from proxy.risk.report import measure_role
    from proxy.server import Server
    from proxy.settings import Settings

    server = Server(config, backend)
    try:
        results = []
        for name in roles:
            user = next((u for u in config.users.values() if u.role == name), None)
            login = type("Login", (), {"name": user.name if user else name, "role": name})()
            ctx = server.rewrite_context(login, Settings(login.name, {}, 0), 0)
            results.append(measure_role(backend, config.roles[name], ctx, settings, progress))
        return results
    finally:
        server.executor.shutdown()


def cmd_explain(args: argparse.Namespace) -> int:
    from proxy.rewrite.explain import explain
    from proxy.settings import Settings

    config = _load(args.config)
    user = config.users.get(args.user)
    if user is None:
        print(f"anonproxy: no user '{args.user}' in {args.config}; users are: {', '.join(sorted(config.users))}",
              file=sys.stderr)
        return 2
    backend = _open_backend(config, args.config)
    if backend is None:
        return 2
    from proxy.errors import SqlError
    from proxy.rewrite.parse import recursion_error
    from proxy.server import Server
    server = Server(config, backend)
    settings = Settings(user.name, {}, config.roles[user.role].statement_timeout_ms)
    try:
        try:
            print(explain(args.sql, server.rewrite_context(user, settings, 0)))
        except RecursionError:
            raise recursion_error() from None
    except SqlError as exc:  # the whole message refused: too long, nested too deep, unterminated
        print(f"anonproxy: refused: {exc.sqlstate} {exc.message}" + (f" ({exc.detail})" if exc.detail else ""),
              file=sys.stderr)
        return 1
    finally:
        server.executor.shutdown()
        backend.close()
    return 0


def cmd_risk(args: argparse.Namespace) -> int:
    from proxy.risk.render import as_json, as_text
    from proxy.risk.report import Settings as RiskSettings

    config = _load(args.config)
    roles = [args.role] if args.role else sorted(config.roles)
    unknown = [r for r in roles if r not in config.roles]
    if unknown:
        print(f"anonproxy: no role '{unknown[0]}' in {args.config}; roles are: {', '.join(sorted(config.roles))}",
              file=sys.stderr)
        return 2
    backend = _open_backend(config, args.config)
    if backend is None:
        return 2
    settings = RiskSettings(threshold=args.threshold, sample=args.sample)

    def progress(step: str) -> None:
        print(f"  measuring {step}...", file=sys.stderr, flush=True)

    try:
        results = _measure_risk(config, backend, roles, settings, progress)
    finally:
        backend.close()
    print(as_json(results, settings) if args.json else as_text(results, settings), end="")
    return 0 if all(r.passed for r in results) else 1


def cmd_budget(args: argparse.Namespace) -> int:
    import datetime as dt

    from proxy.dp.budget_report import budget_lines, history_lines
    from proxy.dp.ledger import open_ledger

    config = _load(args.config)
    roles = [r for name, r in sorted(config.roles.items()) if r.mode == "dp" and (args.role in (None, name))]
    if args.role and not roles:
        dp_roles = ", ".join(n for n, r in sorted(config.roles.items()) if r.mode == "dp") or "none"
        print(f"anonproxy: no dp role '{args.role}' in {args.config}; dp roles: {dp_roles}", file=sys.stderr)
        return 2
    if not roles:
        print(f"{args.config}: no role in dp mode, so no budget")
        return 0
    ledger = open_ledger(config.ledger)
    try:
        lines = history_lines(ledger, args.role) if args.history else \
            budget_lines(ledger, roles, dt.datetime.now(dt.timezone.utc))
    finally:
        ledger.close()
    print("\n".join(lines))
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    if args.iterations < DEFAULT_ITERATIONS:
        print(f"anonproxy: --iterations must be at least {DEFAULT_ITERATIONS} (PostgreSQL's scram_iterations); "
              "`check` refuses weaker verifiers", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("anonproxy: passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("anonproxy: empty password", file=sys.stderr)
        return 1
    print(make_verifier(password, iterations=args.iterations))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anonproxy", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="run the proxy", description="Run the proxy until Ctrl-C.")
    serve.add_argument("--config", required=True, help="YAML configuration file")
    serve.add_argument("--listen", metavar="HOST:PORT", help="overrides the file's listen address")
    serve.add_argument("-v", "--verbose", action="store_true", help="log connections too (failed logins are always logged)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate a configuration file",
                           description="Validate a configuration file; exit 2 and list every problem if it is "
                                       "not valid. Then measure each role's re-identification risk (as "
                                       "`anonproxy risk` does) and warn about every role over the threshold.")
    check.add_argument("config", help="YAML configuration file")
    check.add_argument("--strict", action="store_true",
                       help="exit 1 when a role's rows single out more people than the risk threshold "
                            "(without it, a warning)")
    check.set_defaults(func=cmd_check)

    explain = sub.add_parser("explain", help="show how a statement is rewritten for a user, and why",
                             description="Print the statement the backend would run for USER, key material "
                                         "elided, and one line per policy decision.")
    explain.add_argument("--config", required=True, help="YAML configuration file")
    explain.add_argument("--user", required=True, help="the login whose role applies")
    explain.add_argument("sql", help="the statement(s), as a client would send them")
    explain.set_defaults(func=cmd_explain)

    risk = sub.add_parser("risk", help="measure the re-identification risk of what each role receives",
                          description="Measure, in the backend and over each role's own policy views, how many "
                                      "people the role's rows single out: equivalence classes of the "
                                      "quasi-identifiers, and unicity (people singled out by 1-4 known records) "
                                      "where records are linked by a visible token. The report holds counts "
                                      "and shares only. Exit 1 when a role exceeds the threshold.")
    risk.add_argument("--config", required=True, help="YAML configuration file")
    risk.add_argument("--role", help="only this role (default: every role)")
    risk.add_argument("--json", action="store_true", help="print JSON instead of the readable table")
    risk.add_argument("--threshold", type=float, default=0.05,
                      help="the largest acceptable share of people singled out (default 0.05)")
    risk.add_argument("--sample", type=int, default=10_000,
                      help="people sampled per unicity estimate (default 10000)")
    risk.set_defaults(func=cmd_risk)

    budget = sub.add_parser("budget", help="show each dp role's privacy budget: spent, left, when it resets",
                            description="Print, per role in dp mode, the epsilon spent in the current period, "
                                        "what is left and when the period resets; with --history, every charge "
                                        "(time, login, statement fingerprint, epsilon). Never a statement's text "
                                        "or a value.")
    budget.add_argument("--config", required=True, help="YAML configuration file")
    budget.add_argument("--role", help="only this role")
    budget.add_argument("--history", action="store_true", help="list every charge instead")
    budget.set_defaults(func=cmd_budget)

    passwd = sub.add_parser("passwd", help="print a SCRAM-SHA-256 verifier for a password",
                            description="Read a password (prompt, or one line of stdin) and print the "
                                        "SCRAM-SHA-256 verifier to store as users.<name>.password.")
    passwd.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                        help=f"PBKDF2 iterations (default and minimum {DEFAULT_ITERATIONS})")
    passwd.set_defaults(func=cmd_passwd)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
