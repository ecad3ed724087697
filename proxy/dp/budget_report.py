"""`anonproxy budget`: each dp role's spent and remaining budget, and its charges.
Counts, times and statement fingerprints only: never a statement or a value."""
from __future__ import annotations

import datetime as dt

from proxy.dp.cursor import period_of
from proxy.dp.ledger import Ledger
from proxy.policy.model import Role


def budget_lines(ledger: Ledger, roles: list[Role], now: dt.datetime) -> list[str]:
    lines = [f"{'role':<16} {'period':<22} {'spent':>9} {'left':>9} {'of':>9}  resets"]
    for role in roles:
        assert role.budget is not None
        period = period_of(role.budget).current(now)
        spent = ledger.spent(role.name, period.key)
        lines.append(f"{role.name:<16} {period.key:<22} {spent:>9.4g} {max(0.0, role.budget.epsilon - spent):>9.4g} "
                     f"{role.budget.epsilon:>9.4g}  {period.resets:%Y-%m-%d %H:%M} UTC")
    return lines


def history_lines(ledger: Ledger, role: str | None) -> list[str]:
    lines = [f"{'time (UTC)':<20} {'role':<16} {'login':<16} {'period':<22} {'statement':<16} {'epsilon':>8}"]
    for c in ledger.history(role):
        lines.append(f"{c.at:%Y-%m-%d %H:%M:%S}  {c.role:<16} {c.login:<16} {c.period:<22} {c.fingerprint[:16]:<16} "
                     f"{c.epsilon:>8.4g}")
    return lines
