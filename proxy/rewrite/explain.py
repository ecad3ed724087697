"""`anonproxy explain`: what the pipeline does to a statement and why.

Prints the statement the backend would run, with key material elided, and
one line per decision: which rule applies to which column, which rows a view
suppresses and why.
"""
from __future__ import annotations

from dataclasses import replace

import sqlglot

from proxy.dp.plan import describe as describe_dp
from proxy.errors import SqlError
from proxy.policy.model import ColumnRule, TablePolicy
from proxy.rewrite.context import RewriteContext
from proxy.rewrite.parse import parse_statement, split_statements
from proxy.rewrite.pipeline import BackendQuery, plan_query
from proxy.session_commands import LOCAL_WORDS


def _rule_text(rule: ColumnRule) -> str:
    if rule.rule in ("raw", "hide", "null") and not rule.kind:
        return {"raw": "raw", "hide": "hidden (does not exist for this role)", "null": "always NULL"}[rule.rule]
    options = ", ".join(f"{k}={v}" for k, v in rule.options.items())
    return " ".join(filter(None, [rule.rule, rule.kind, f"({options})" if options else ""]))


def _table_decisions(policy: TablePolicy, ctx: RewriteContext) -> list[str]:
    role = ctx.role
    if not role.transforms:
        return [f"{policy.name}: read as stored (role {role.name} is raw)"]
    if policy.public:
        return [f"{policy.name}: public dimension, columns raw unless listed"] + [
            f"{policy.name}.{c}: {_rule_text(r)}" for c, r in policy.columns.items()]
    lines = [f"{policy.name}: policy view; privacy unit {policy.privacy_unit}"]
    lines += [f"{policy.name}.{c}: {_rule_text(policy.rule(c))}" for c in ctx.tables[policy.name]]
    if role.mode == "aggregate":
        lines.append(f"{policy.name}: only aggregates leave; each released group must hold >= {role.k} "
                     f"distinct {policy.privacy_unit} (HAVING added to every aggregating SELECT)")
        generalized = [c for c in ctx.tables[policy.name] if policy.rule(c).rule == "generalize"]
        lines.append(f"{policy.name}: min/max and other value-returning aggregates only on "
                     + (", ".join(generalized) if generalized else "no column (none is generalized)"))
    qis = [q for q in policy.quasi_identifiers if policy.rule(q).rule != "hide"]
    if qis and role.k > 1:
        line = (f"{policy.name}: rows suppressed unless their generalized ({', '.join(qis)}) is shared by "
                f">= {role.k} distinct {policy.privacy_unit}")
        if policy.l_diversity:
            line += f" and holds >= {policy.l_diversity[1]} distinct {policy.l_diversity[0]}"
        lines.append(line)
    return lines


def explain(sql: str, ctx: RewriteContext) -> str:
    out = [f"role {ctx.role.name} (mode {ctx.role.mode}" + (f", k={ctx.role.k}" if ctx.role.k > 1 else "") + ")"]
    for i, stmt in enumerate(split_statements(sql), start=1):
        out.append(f"\n-- statement {i}: {stmt.text}")
        if stmt.first_word in LOCAL_WORDS:
            out.append("answered by the proxy itself (session command)")
            continue
        traced = replace(ctx, trace=[])
        try:
            query = plan_query(parse_statement(stmt), traced)
        except SqlError as exc:
            out += [f"  {line}" for _, line in traced.trace or []]
            out.append(f"refused: {exc.sqlstate} {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else ""))
            continue
        assert isinstance(query, BackendQuery) and traced.trace is not None
        out += [f"{section}: {line}" for section, line in traced.trace if section != "table"]
        tables = sorted({line for section, line in traced.trace if section == "table"})
        for name in tables:
            out += _table_decisions(ctx.role.table(name), ctx)
        if query.dp is not None and ctx.role.budget is not None:
            out += describe_dp(query.dp, ctx.role.budget.default_epsilon, ctx.role.budget.delta)
        pretty = sqlglot.transpile(query.sql, read=ctx.dialect, write=ctx.dialect, pretty=True)[0]
        out.append(f"backend ({ctx.dialect}) runs:\n{ctx.redact(pretty)}")
    return "\n".join(out)
