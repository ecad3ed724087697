"""The risk report as a reader sees it (a table per role) or as JSON. It holds
counts and shares only, never a data value."""
from __future__ import annotations

import json
from dataclasses import asdict

from proxy.risk.estimate import Share
from proxy.risk.report import RoleRisk, Settings


def _share(s: Share) -> dict:
    low, high = s.interval
    return {"share": round(s.value, 6), "low": round(low, 6), "high": round(high, 6), "hits": s.hits,
            "of": s.total, "sampled": s.sampled}


def as_json(roles: list[RoleRisk], settings: Settings) -> str:
    out = {"threshold": settings.threshold, "sample": settings.sample, "judged_up_to_points": settings.points_judged,
           "roles": []}
    for role in roles:
        tables = []
        for t in role.tables:
            entry: dict = {"table": t.table, "passed": t.passed, "suggestions": t.suggestions}
            if t.classes is not None:
                c = asdict(t.classes)
                c["alone"], c["below_k"] = _share(t.classes.alone), _share(t.classes.below_k)
                entry["classes"] = c
            if t.unicity is not None:
                entry["unicity"] = {"linking_key": t.unicity.linking_key, "scope": t.unicity.scope,
                                    "known": list(t.unicity.known),
                                    "linked": t.unicity.linked,
                                    "by_points": {str(m): {**_share(s), "eligible": t.unicity.eligible[m]}
                                                  for m, s in t.unicity.by_points.items()}}
            tables.append(entry)
        out["roles"].append({"role": role.role, "mode": role.mode, "passed": role.passed, "note": role.note,
                             "tables": tables})
    return json.dumps(out, indent=2)


def as_text(roles: list[RoleRisk], settings: Settings) -> str:
    lines = [f"Re-identification risk of what each role receives (threshold: at most "
             f"{100 * settings.threshold:g}% of people singled out, judged for up to "
             f"{settings.points_judged} known records)", ""]
    for role in roles:
        verdict = "" if role.note else ("  PASS" if role.passed else "  FAIL")
        lines.append(f"role {role.role} ({role.mode}){verdict}")
        if role.note:
            lines += [f"  {role.note}", ""]
            continue
        for t in role.tables:
            lines.append(f"  {t.table}: {'pass' if t.passed else 'FAIL'}")
            if t.classes is not None:
                c = t.classes
                lines.append(f"    quasi-identifiers ({', '.join(c.quasi_identifiers)}): {c.persons_received:,} of "
                             f"{c.persons_stored:,} people received, {c.classes:,} classes, smallest {c.smallest}")
                lines.append(f"      alone in their class {c.alone.describe()}; in a class smaller than k "
                             f"{c.below_k.describe()}" + (f"; fewest sensitive values in a class {c.least_diverse}"
                                                          if c.least_diverse is not None else ""))
            if t.unicity is not None:
                u = t.unicity
                who = f"person-{u.scope}s (a new token every {u.scope})" if u.scope else "people"
                lines.append(f"    records linked by {u.linking_key}; an attacker knows {', '.join(u.known)} "
                             f"of a record; {u.linked:,} {who}")
                for m, s in u.by_points.items():
                    lines.append(f"      singled out by {m} known record{'s' if m > 1 else ' '}: {s.describe()}")
            for suggestion in t.suggestions:
                lines.append(f"    suggestion: {suggestion}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
