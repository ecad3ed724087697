"""Accuracy of DP aggregates, side by side in one run: anonproxy's `dp` mode
(through the wire) against OpenDP, SmartNoise SQL, diffprivlib's mechanisms and
the floor of simple optimal mechanisms, on the PUMS sample (bench/dp/data, MIT,
from opendp/smartnoise-sdk: 1,000 people, one row each, `pid` the person).

For each query (counts, sums, averages; global, grouped by a public domain,
grouped by private keys, and a join to a public table) and each library it
prints the mean relative error |noisy - true| / |true| over N releases (grouped
queries: averaged over the groups present in both the true and the released
answer; groups missing from a release counted apart), the epsilon each library
*actually* spent per release, and the median release latency. Two settings:

1. a true epsilon of 1 per query (SmartNoise asked for 1 / c per statistic, c
   being what its odometer charges per query at 1 per statistic: 2 per COUNT
   or SUM, 3 per AVG);
2. SmartNoise's own spend: SmartNoise asked for epsilon 1 per statistic, every
   other library given what SmartNoise's odometer reports for that query.

Usage (the peers live in their own venvs, see bench/dp/requirements*.txt):

    bench/dp/.venv/bin/python bench/dp_accuracy.py build     # DuckDB file + token key
    bench/dp/.venv/bin/python bench/dp_accuracy.py [--runs N | --quick] [--json FILE]

It is a benchmark, not a test: it fails on no number. A library that refuses a
query gets "n/a (why)" in its cell and the rest of the run goes on.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]  # /work/main
HERE = ROOT / "bench" / "dp"
DATA = HERE / "data"
CONFIG = HERE / "pums.yaml"  # the policy, without users
RUN_CONFIG = HERE / "pums.run.yaml"  # written per run: CONFIG plus a login with a fresh password
DB = DATA / "pums.duckdb"
KEY = DATA / "bench-token.key"
LEDGER = DATA / "ledger.sqlite"
CSV = DATA / "PUMS_pid.csv"
SN_METADATA = DATA / "PUMS_bench.yaml"
SN_PYTHON = HERE / ".venv-smartnoise" / "bin" / "python"
PROXY_PYTHON = ROOT / ".venv" / "bin" / "python"

DELTA = 1e-6  # the proxy role's delta, asked of SmartNoise too; used for thresholds by everyone
K = 5  # the proxy role's k: no group released by threshold below it
SEED = 20261123

BOUNDS = {"age": (0, 100), "income": (0, 500_000), "educ": (1, 16)}
DOMAINS = {"sex": (0, 1), "married": (0, 1)}  # public key domains
# educ codes (2000 census SCHL labels): the public dimension table educ_names
EDUC_NAMES = {
    1: "No schooling", 2: "Nursery to grade 4", 3: "Grade 5 or 6", 4: "Grade 7 or 8", 5: "Grade 9",
    6: "Grade 10", 7: "Grade 11", 8: "Grade 12, no diploma", 9: "High school graduate",
    10: "Some college, under 1 year", 11: "Some college, 1 year or more", 12: "Associate degree",
    13: "Bachelor's degree", 14: "Master's degree", 15: "Professional degree", 16: "Doctorate",
}


# --------------------------------------------------------------------------- queries

@dataclass(frozen=True)
class Query:
    """One benchmark query. `sql` is what the proxy gets, `{where}` standing for the
    always-true predicate that makes each release a distinct statement; `sn_sql` is
    SmartNoise's spelling of the same query (its tables are schema-qualified)."""

    name: str
    sql: str
    agg: str  # count, sum, avg
    column: str | None  # summed / averaged column
    key: str | None  # grouping column (None: global)
    keys: str  # "global", "public" (a declared domain or a public table's values), "private"
    pred: str = "age"  # the column of the varying predicate
    core: bool = True  # in the overall mean (False: the join, which SmartNoise refuses)

    def proxy_sql(self, i: int) -> str:
        return self.sql.format(where=f"WHERE {self.pred} >= -{i} ")

    def plain_sql(self, table: str = "pums") -> str:
        sql = self.sql.format(where="").replace("FROM pums", f"FROM {table}")
        return re.sub(r"\s+", " ", sql).strip()

    @property
    def sn_sql(self) -> str:
        return self.plain_sql("PUMS.PUMS").replace("JOIN educ_names", "JOIN PUMS.educ_names")


QUERIES = [
    Query("count", "SELECT COUNT(*) FROM pums {where}", "count", None, None, "global"),
    Query("sum income", "SELECT SUM(income) FROM pums {where}", "sum", "income", None, "global"),
    Query("sum age", "SELECT SUM(age) FROM pums {where}", "sum", "age", None, "global"),
    Query("avg age", "SELECT AVG(age) FROM pums {where}", "avg", "age", None, "global"),
    Query("avg income", "SELECT AVG(income) FROM pums {where}", "avg", "income", None, "global"),
    Query("count by sex", "SELECT sex, COUNT(*) FROM pums {where}GROUP BY sex", "count", None, "sex", "public"),
    Query("count by married", "SELECT married, COUNT(*) FROM pums {where}GROUP BY married", "count", None,
          "married", "public"),
    Query("sum income by sex", "SELECT sex, SUM(income) FROM pums {where}GROUP BY sex", "sum", "income", "sex",
          "public"),
    Query("avg income by married", "SELECT married, AVG(income) FROM pums {where}GROUP BY married", "avg",
          "income", "married", "public"),
    Query("avg age by sex", "SELECT sex, AVG(age) FROM pums {where}GROUP BY sex", "avg", "age", "sex", "public"),
    Query("count by educ", "SELECT educ, COUNT(*) FROM pums {where}GROUP BY educ", "count", None, "educ",
          "private"),
    Query("sum age by educ", "SELECT educ, SUM(age) FROM pums {where}GROUP BY educ", "sum", "age", "educ",
          "private"),
    Query("join: count by educ name",
          "SELECT n.name, COUNT(*) FROM pums AS p JOIN educ_names AS n ON p.educ = n.educ {where}GROUP BY n.name",
          "count", None, "name", "public", pred="p.age", core=False),
]


# --------------------------------------------------------------------------- build

def build() -> None:
    """bench/dp/data/pums.duckdb from PUMS_pid.csv (types as the values are: sex,
    educ, married are integers there), the public educ_names table, and a fresh
    tokenization key (64 hex digits, mode 0600) if there is none."""
    import duckdb

    if DB.exists():
        DB.unlink()
    con = duckdb.connect(str(DB))
    # pid is the primary key: one row per person, as in the CSV (the proxy then samples nothing).
    con.execute("""CREATE TABLE pums (pid INTEGER PRIMARY KEY, age INTEGER, sex INTEGER, educ INTEGER,
        race INTEGER, income INTEGER, married INTEGER)""")
    con.execute(f"""INSERT INTO pums SELECT
        CAST(pid AS INTEGER) AS pid, CAST(age AS INTEGER) AS age, CAST(sex AS INTEGER) AS sex,
        CAST(educ AS INTEGER) AS educ, CAST(race AS INTEGER) AS race,
        CAST(income AS INTEGER) AS income, CAST(married AS INTEGER) AS married
        FROM read_csv('{CSV}', header = true)""")
    con.execute("CREATE TABLE educ_names (educ INTEGER PRIMARY KEY, name VARCHAR NOT NULL)")
    con.executemany("INSERT INTO educ_names VALUES (?, ?)", sorted(EDUC_NAMES.items()))
    n = con.execute("SELECT count(*), count(DISTINCT pid) FROM pums").fetchone()
    con.close()
    print(f"built {DB.relative_to(ROOT)}: pums {n[0]} rows ({n[1]} people), educ_names {len(EDUC_NAMES)} rows")
    if not KEY.exists():
        old = os.umask(0o077)
        try:
            KEY.write_text(secrets.token_hex(32) + "\n")
        finally:
            os.umask(old)
        print(f"wrote a new tokenization key {KEY.relative_to(ROOT)} (mode 0600)")
    KEY.chmod(0o600)


def _keyed(path: Path) -> bool:
    """Whether the file is this build's: pums with its primary key (older builds had none)."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return bool(con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'pums' "
                                "AND constraint_type = 'PRIMARY KEY'").fetchone()[0])
    finally:
        con.close()


# --------------------------------------------------------------------------- data and truth

@dataclass
class Data:
    cols: dict[str, Any]  # numpy arrays of the pums columns
    truth: dict[str, dict[str, float]]  # query name -> group key (str, "" if global) -> true value


def load_data() -> Data:
    import duckdb
    import numpy as np

    con = duckdb.connect(str(DB), read_only=True)
    df = con.execute("SELECT p.*, n.name FROM pums p JOIN educ_names n USING (educ) ORDER BY pid").fetchnumpy()
    cols = {k: np.asarray(v) for k, v in df.items()}
    truth = {}
    for q in QUERIES:
        rows = con.execute(q.plain_sql()).fetchall()
        truth[q.name] = {("" if q.key is None else str(r[0])): float(r[-1]) for r in rows}
    con.close()
    return Data(cols, truth)


def key_domain(q: Query) -> list[Any]:
    if q.key == "name":
        return list(EDUC_NAMES.values())
    return list(DOMAINS[q.key])


def partitions(q: Query, cols: dict[str, Any]) -> dict[str, Any]:
    """Group key -> row indices: the key's public domain (empty groups included),
    or the keys present in the data when they are private."""
    import numpy as np

    if q.key is None:
        return {"": np.arange(len(cols["pid"]))}
    keys = cols[q.key]
    values = key_domain(q) if q.keys == "public" else sorted(set(keys.tolist()))
    return {str(v): np.flatnonzero(keys == v) for v in values}


def threshold(eps: float, delta: float = DELTA, per_group: int = 1, sensitivity: int = 1) -> int:
    """The noisy count a private key needs to be released: a group one person makes
    (true count <= per_group) passes with probability <= delta; never below k."""
    return max(K, math.ceil(per_group + sensitivity / eps * math.log(1 / delta)))


# --------------------------------------------------------------------------- releases

@dataclass
class Release:
    values: dict[str, float] | None  # None: refused
    epsilon: float  # actually spent by this release
    delta: float = 0.0
    seconds: float = 0.0
    error: str = ""


class Library:
    name = "?"

    def release(self, q: Query, eps: float, i: int) -> Release:
        raise NotImplementedError


def _dlap(rng, scale: float) -> int:
    """Two-sided geometric (discrete Laplace) noise of the given scale."""
    p = -math.expm1(-1.0 / scale)
    return int(rng.geometric(p)) - int(rng.geometric(p))


class Floor(Library):
    """The simple optimal mechanism per query, in numpy: two-sided geometric noise on
    integer counts and sums (sensitivity max|bound| x contributions); avg as a
    sum centred on the bounds' midpoint over a count, epsilon split in two; public
    keys released whole (parallel composition), private keys by a noisy count
    threshold (for counts and averages the released count itself; sums split
    epsilon with a count)."""

    name = "floor"

    def __init__(self, data: Data, seed: int) -> None:
        import numpy as np

        self.cols, self.rng = data.cols, np.random.default_rng(seed)

    def release(self, q: Query, eps: float, i: int) -> Release:
        t = time.perf_counter()
        rng, out = self.rng, {}
        x = self.cols[q.column] if q.column else None
        lo, hi = BOUNDS[q.column] if q.column else (0, 0)
        private = q.keys == "private"
        for key, idx in partitions(q, self.cols).items():
            n = len(idx)
            if q.agg == "count":
                c = n + _dlap(rng, 1 / eps)
                if private and c < threshold(eps):
                    continue
                out[key] = float(c)
            elif q.agg == "sum":
                e = eps / 2 if private else eps
                if private and n + _dlap(rng, 1 / e) < threshold(e):
                    continue
                out[key] = float(x[idx].clip(lo, hi).sum() + _dlap(rng, max(abs(lo), abs(hi)) / e))
            else:  # avg: centred sum / count, eps/2 each
                e, mid = eps / 2, (lo + hi) / 2
                c = n + _dlap(rng, 1 / e)
                if private and c < threshold(e):
                    continue
                s = (x[idx].clip(lo, hi) - mid).sum() + _dlap(rng, (hi - lo) / 2 / e)
                out[key] = float(min(hi, max(lo, mid + s / max(c, 1))))
        return Release(out, eps, DELTA if private else 0.0, time.perf_counter() - t)


class Diffprivlib(Library):
    """diffprivlib's mechanisms composed naively: Geometric for counts, Laplace for
    sums (sensitivity max|bound|), avg = noisy sum / noisy count (eps/2 each, not
    centred); private keys by the same count threshold as the floor (diffprivlib
    has no threshold mechanism)."""

    name = "diffprivlib"

    def __init__(self, data: Data, seed: int) -> None:
        import numpy as np

        self.cols, self.rs = data.cols, np.random.RandomState(seed)

    def release(self, q: Query, eps: float, i: int) -> Release:
        from diffprivlib.mechanisms import Geometric, Laplace

        t = time.perf_counter()
        out = {}
        x = self.cols[q.column] if q.column else None
        lo, hi = BOUNDS[q.column] if q.column else (0, 0)
        private = q.keys == "private"
        for key, idx in partitions(q, self.cols).items():
            n = len(idx)
            if q.agg == "count":
                c = Geometric(epsilon=eps, sensitivity=1, random_state=self.rs).randomise(n)
                if private and c < threshold(eps):
                    continue
                out[key] = float(c)
            elif q.agg == "sum":
                e = eps / 2 if private else eps
                if private and Geometric(epsilon=e, random_state=self.rs).randomise(n) < threshold(e):
                    continue
                s = float(x[idx].clip(lo, hi).sum())
                out[key] = Laplace(epsilon=e, sensitivity=max(abs(lo), abs(hi)), random_state=self.rs).randomise(s)
            else:
                e = eps / 2
                c = Geometric(epsilon=e, random_state=self.rs).randomise(n)
                if private and c < threshold(e):
                    continue
                s = Laplace(epsilon=e, sensitivity=max(abs(lo), abs(hi)), random_state=self.rs).randomise(
                    float(x[idx].clip(lo, hi).sum()))
                out[key] = s / max(c, 1)
        return Release(out, eps, DELTA if private else 0.0, time.perf_counter() - t)


class OpenDP(Library):
    """OpenDP 0.16's measurement constructors, chains built per release and their
    privacy maps read for the spend: count >> laplace (discrete on integers);
    clamp >> sum >> laplace; avg = basic composition of sum and count (eps/2 each,
    not centred); public keys: count_by_categories >> laplace, or the chain per
    group (parallel composition: one row per person); private keys: count_by >>
    laplace_threshold (threshold the least whose delta <= 1e-6), sums then on the
    released keys with the other half of epsilon."""

    name = "OpenDP"

    def __init__(self, data: Data, seed: int) -> None:
        import opendp.prelude as dp

        dp.enable_features("contrib")
        self.dp, self.cols = dp, data.cols
        self.space = dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance()
        self._thresholds: dict[float, int] = {}

    def _count(self, scale: float):
        return self.space >> self.dp.t.then_count() >> self.dp.m.then_laplace(scale)

    def _sum(self, col: str, scale: float):
        dp = self.dp
        return self.space >> dp.t.then_clamp(BOUNDS[col]) >> dp.t.then_sum() >> dp.m.then_laplace(scale)

    def _count_threshold(self, scale: float):
        dp = self.dp
        by = self.space >> dp.t.then_count_by()
        if scale not in self._thresholds:  # the least threshold whose delta is at most DELTA
            t = 1
            while (by >> dp.m.then_laplace_threshold(scale=scale, threshold=t)).map(1)[1] > DELTA:
                t += 1
            self._thresholds[scale] = max(K, t)
        return by >> dp.m.then_laplace_threshold(scale=scale, threshold=self._thresholds[scale])

    def release(self, q: Query, eps: float, i: int) -> Release:
        dp, cols = self.dp, self.cols
        t = time.perf_counter()
        out: dict[str, float] = {}
        spent, delta = 0.0, 0.0
        parts = partitions(q, cols)
        if q.key is not None and q.keys == "private":
            e = eps if q.agg == "count" else eps / 2
            m = self._count_threshold(1 / e)
            counts = m(cols[q.key].astype(int).tolist())
            spent, delta = m.map(1)
            if q.agg == "count":
                out = {str(k): float(v) for k, v in counts.items()}
            else:
                if q.agg == "avg":
                    raise NotImplementedError("private-key averages are not in the benchmark")
                col = cols[q.column]
                for k in counts:
                    s = self._sum(q.column, max(map(abs, BOUNDS[q.column])) / e)
                    out[str(k)] = float(s(col[parts[str(k)]].astype(int).tolist()))
                spent += s.map(1)
        elif q.agg == "count" and q.key is not None:
            domain = key_domain(q)
            if q.key == "name":
                keys = cols["name"].tolist()
                sp = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
            else:
                keys = cols[q.key].astype(int).tolist()
                sp = self.space
            m = sp >> dp.t.then_count_by_categories(categories=domain, null_category=False) \
                >> dp.m.then_laplace(1 / eps)
            out = {str(k): float(v) for k, v in zip(domain, m(keys))}
            spent = m.map(1)
        else:
            for key, idx in parts.items():  # global: one part; public keys: one part per value
                if q.agg == "count":
                    m = self._count(1 / eps)
                    out[key] = float(m(cols["pid"][idx].astype(int).tolist()))
                else:
                    x = cols[q.column][idx].astype(int).tolist()
                    sens = max(map(abs, BOUNDS[q.column]))
                    if q.agg == "sum":
                        m = self._sum(q.column, sens / eps)
                        out[key] = float(m(x))
                    else:
                        m = dp.c.make_composition([self._sum(q.column, sens / (eps / 2)),
                                                         self._count(1 / (eps / 2))])
                        s, c = m(x)
                        out[key] = s / max(c, 1)
                spent = max(spent, m.map(1))  # disjoint parts of one person each: parallel composition
        return Release(out, float(spent), float(delta), time.perf_counter() - t)


# --------------------------------------------------------------------------- SmartNoise (worker)

def smartnoise_worker() -> None:
    """Runs under bench/dp/.venv-smartnoise (SmartNoise SQL pins an older OpenDP).
    Reads {queries: [[name, sql]], runs, modes: {mode: target}} as JSON on stdin;
    writes per query and mode the releases, odometer spends and latencies."""
    import pandas as pd
    import snsql
    from snsql import Privacy

    job = json.load(sys.stdin)
    df = pd.read_csv(CSV)
    df["income"] = df["income"].astype(int)
    for c in ("sex", "educ", "race", "married"):
        df[c] = df[c].astype(str)  # SmartNoise's metadata declares them strings
    names = pd.DataFrame({"educ": [str(k) for k in EDUC_NAMES], "name": list(EDUC_NAMES.values())})
    tables = {"PUMS.PUMS": df, "PUMS.educ_names": names}

    def reader(eps: float):
        return snsql.from_df(tables, privacy=Privacy(epsilon=eps, delta=DELTA), metadata=str(SN_METADATA))

    result: dict[str, Any] = {"version": getattr(snsql, "__version__", "?")}
    try:
        from importlib.metadata import version
        result["version"] = version("smartnoise-sql")
        result["opendp"] = version("opendp")
    except Exception:
        pass
    for name, sql in job["queries"]:
        per: dict[str, Any] = {}
        try:
            unit = float(reader(1.0).get_privacy_cost(sql)[0])  # charged per query at 1 per statistic
        except Exception as exc:
            result[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
            continue
        for mode, target in job["modes"].items():
            ask = 1.0 if target is None else target / unit  # epsilon per statistic
            # What one release costs: the odometer of a fresh reader after one statement.
            # (One reader's odometer composes its releases with Kairouz et al.'s
            # advanced composition: after many, each costs less; reported apart.)
            r = reader(ask)
            r.execute(sql)
            charge = [float(v) for v in r.odometer.spent]
            r = reader(ask)
            releases, lat = [], []
            for _ in range(job["runs"]):
                t = time.perf_counter()
                rows = r.execute(sql)
                lat.append(time.perf_counter() - t)
                releases.append({("" if len(row) == 1 else str(row[0])): (None if row[-1] is None else float(row[-1]))
                                 for row in rows[1:]})
            per[mode] = {"ask": ask, "unit": unit, "releases": releases, "seconds": lat, "charge": charge,
                         "total": [float(v) for v in r.odometer.spent]}
        result[name] = per
    json.dump(result, sys.stdout)


def run_smartnoise(runs: int) -> dict[str, Any]:
    if not SN_PYTHON.exists():
        return {"_error": f"{SN_PYTHON.relative_to(ROOT)} missing: see bench/dp/requirements-smartnoise.txt"}
    job = {"queries": [[q.name, q.sn_sql] for q in QUERIES], "runs": runs,
           "modes": {"equal": 1.0, "own": None}}
    proc = subprocess.run([str(SN_PYTHON), __file__, "--smartnoise-worker"], input=json.dumps(job),
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"_error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- anonproxy (through the wire)

NOTICE = re.compile(r"^DP: epsilon ([0-9.eE+-]+) spent")


def write_run_config() -> str:
    """CONFIG plus a user `bench` whose password is new for this run (never stored; its
    SCRAM verifier made by `anonproxy passwd`), as RUN_CONFIG, mode 0600. Returns the password."""
    password = secrets.token_urlsafe(24)
    verifier = subprocess.run([str(PROXY_PYTHON), "-m", "proxy.cli", "passwd"], input=password + "\n",
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    old = os.umask(0o077)
    try:
        RUN_CONFIG.write_text(CONFIG.read_text() + f'\nusers:\n  bench: {{role: bench, password: "{verifier}"}}\n')
    finally:
        os.umask(old)
    return password


class Anonproxy:
    """The proxy as a subprocess (the project's venv) on bench/dp/pums.yaml (and a login made per run), a
    fresh ledger per run, psycopg 3 as the client. Each release is a distinct
    statement (`WHERE age >= -i`, always true on bounds [0, 100]) because an
    identical statement is answered from the ledger, identical and uncharged.
    The spend is the epsilon of the "DP: epsilon <x> spent" notice."""

    name = "anonproxy"

    def __init__(self) -> None:
        import psycopg

        if LEDGER.exists():
            LEDGER.unlink()
        for extra in LEDGER.parent.glob(LEDGER.name + "-*"):  # SQLite's -wal / -shm
            extra.unlink()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        password = write_run_config()
        self.log = open(DATA / "proxy.log", "w")
        self.proc = subprocess.Popen([str(PROXY_PYTHON), "-m", "proxy.cli", "serve", "--config", str(RUN_CONFIG),
                                      "--listen", f"127.0.0.1:{self.port}"], cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.proc.returncode}: see {DATA / 'proxy.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("proxy did not start")
        self.conn = psycopg.connect(host="127.0.0.1", port=self.port, dbname="pums", user="bench",
                                    password=password, autocommit=True)
        self.notices: list[str] = []
        self.conn.add_notice_handler(lambda d: self.notices.append(d.message_primary or ""))
        self.epsilon: float | None = None
        self.counter = 0

    def set_epsilon(self, eps: float) -> None:
        if eps != self.epsilon:
            self.conn.execute(f"SET anonproxy.epsilon = {eps:g}")
            self.epsilon = eps

    def release(self, q: Query, eps: float, i: int) -> Release:
        import psycopg

        self.counter += 1  # unique over the whole run, both settings
        try:
            self.set_epsilon(eps)
            self.notices.clear()
            t = time.perf_counter()
            rows = self.conn.execute(q.proxy_sql(self.counter)).fetchall()
            seconds = time.perf_counter() - t
        except psycopg.Error as exc:
            self.epsilon = None  # a failed SET leaves the setting unknown
            first = (str(exc).strip().splitlines() or [""])[0]
            return Release(None, 0.0, error=f"{exc.sqlstate or '?'} {first[:90]}")
        spent = [float(m.group(1)) for n in self.notices if (m := NOTICE.match(n))]
        values = {("" if len(r) == 1 else str(r[0])): (None if r[-1] is None else float(r[-1])) for r in rows}
        return Release(values, sum(spent) if spent else float("nan"), 0.0, seconds)

    def prepared(self, q: Query, runs: int) -> Release:
        """A release through a prepared statement (the varying bound sent as a parameter):
        the plan comes from the proxy's plan cache, and the release is still a fresh one
        (new noise, a new charge)."""
        import psycopg

        self.counter += 1
        try:
            self.set_epsilon(1.0)
            self.notices.clear()
            t = time.perf_counter()
            self.conn.execute(q.sql.format(where=f"WHERE {q.pred} >= %s "), (-self.counter,), prepare=True).fetchall()
            seconds = time.perf_counter() - t
        except psycopg.Error as exc:
            self.epsilon = None
            return Release(None, 0.0, error=f"{exc.sqlstate or '?'} {str(exc).splitlines()[0][:90]}")
        spent = sum(float(m.group(1)) for n in self.notices if (m := NOTICE.match(n)))
        return Release({}, spent, 0.0, seconds)

    def repeat(self, q: Query, runs: int) -> str:
        """The latency of a statement already released, sent again: answered from the
        ledger (identical, uncharged). Told apart from a fresh release's latency."""
        try:
            self.set_epsilon(1.0)
            self.counter += 1
            sql = q.proxy_sql(self.counter)
            first = self.conn.execute(sql).fetchall()
            times, same, notices = [], True, set()
            for _ in range(runs):
                self.notices.clear()
                t = time.perf_counter()
                rows = self.conn.execute(sql).fetchall()
                times.append(time.perf_counter() - t)
                same &= rows == first
                notices.update(self.notices)
        except Exception as exc:
            return f"n/a ({str(exc).splitlines()[0][:90]})"
        told = "; ".join(sorted(notices))[:160] or "no notice"
        return (f"median {statistics.median(times) * 1e3:.3f} ms over {runs}, "
                f"{'identical' if same else 'DIFFERENT'} answers, notice: {told}")

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self.proc.terminate()
            self.proc.wait(10)
            self.log.close()


# --------------------------------------------------------------------------- scoring

@dataclass
class Cell:
    mre: float | None = None
    epsilon: float | None = None
    delta: float | None = None
    ms: float | None = None
    missing: float = 0.0  # true groups absent from a release, on average
    extra: float = 0.0  # released groups with no true group, on average
    error: str = ""
    note: str = ""

    def text_mre(self) -> str:
        if self.error:
            return f"n/a ({self.error})"
        s = f"{self.mre:.4f}" if self.mre is not None else "-"
        if self.missing or self.extra:
            s += f" [-{self.missing:.1f}" + (f" +{self.extra:.1f}" if self.extra else "") + "]"
        return s


def score(truth: dict[str, float], releases: list[Release]) -> Cell:
    refused = [r for r in releases if r.values is None]
    if refused:
        return Cell(error=refused[0].error or "refused")
    errs, missing, extra = [], [], []
    for r in releases:
        vals = {k: v for k, v in r.values.items() if v is not None}
        common = [k for k in truth if k in vals]
        missing.append(sum(1 for k in truth if k not in vals))
        extra.append(sum(1 for k in vals if k not in truth))
        if common:
            errs.append(statistics.fmean(abs(vals[k] - truth[k]) / max(abs(truth[k]), 1e-9) for k in common))
    spent = [r.epsilon for r in releases]
    return Cell(statistics.fmean(errs) if errs else None,
                statistics.median(spent), statistics.median(r.delta for r in releases),
                statistics.median(r.seconds for r in releases) * 1e3,
                statistics.fmean(missing), statistics.fmean(extra))


def smartnoise_cells(sn: dict[str, Any], mode: str, data: Data) -> dict[str, Cell]:
    cells = {}
    for q in QUERIES:
        got = sn.get(q.name) or {"error": sn.get("_error", "not run")}
        if "error" in got:
            cells[q.name] = Cell(error=got["error"])
            continue
        run = got[mode]
        eps, delta = run["charge"]
        cell = score(data.truth[q.name], [Release(v, eps, delta, sec) for v, sec in zip(run["releases"], run["seconds"])])
        n = len(run["releases"])
        cell.note = (f"{run['ask']:.4g} | {eps:.4g} (delta {delta:.2g}) | {run['total'][0]:.4g} "
                     f"(delta {run['total'][1]:.2g}) | {n * eps:.4g}")
        cells[q.name] = cell
    return cells


def own_spend(sn: dict[str, Any], q: Query) -> float:
    """SmartNoise's odometer per query at 1 per statistic; for a query it refuses,
    what it charges for the same aggregate (2 for COUNT and SUM, 3 for AVG)."""
    got = sn.get(q.name) or {}
    if "own" in got:
        return round(got["own"]["charge"][0], 6)
    return 3.0 if q.agg == "avg" else 2.0


def run_library(lib, data: Data, eps_of: Callable[[Query], float], runs: int) -> dict[str, Cell]:
    cells = {}
    for q in QUERIES:
        eps = eps_of(q)
        releases = []
        for i in range(runs):
            try:
                releases.append(lib.release(q, eps, i))
            except Exception as exc:  # a library that cannot answer: n/a, the run goes on
                releases.append(Release(None, 0.0, error=f"{type(exc).__name__}: {str(exc)[:80]}"))
                break
        cells[q.name] = score(data.truth[q.name], releases)
    return cells


# --------------------------------------------------------------------------- report

LIBS = ["floor", "diffprivlib", "OpenDP", "SmartNoise", "anonproxy"]


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_setting(title: str, table: dict[str, dict[str, Cell]], eps_of: Callable[[Query], float]) -> None:
    print(f"\n## {title}\n")
    print("mean relative error ([-m +x]: groups missing from / spurious in a release, on average)\n")
    head = ["query", "epsilon"] + LIBS
    rows = []
    for q in QUERIES:
        rows.append([q.name, f"{eps_of(q):g}"] + [table[lib][q.name].text_mre() for lib in LIBS])
    overall = ["overall (mean of the core queries)", ""]
    for lib in LIBS:
        vals = [table[lib][q.name].mre for q in QUERIES if q.core]
        overall.append(f"{statistics.fmean(vals):.4f}" if all(v is not None for v in vals) else "n/a")
    rows.append(overall)
    _table(head, rows)
    print("\nepsilon actually spent per release (median), and delta where not 0\n")
    rows = []
    for q in QUERIES:
        row = [q.name]
        for lib in LIBS:
            c = table[lib][q.name]
            row.append("n/a" if c.error else fmt(c.epsilon, ".4g") + (f" (d {c.delta:.2g})" if c.delta else ""))
        rows.append(row)
    _table(["query"] + LIBS, rows)
    sn = [(q.name, table["SmartNoise"][q.name].note) for q in QUERIES if table["SmartNoise"][q.name].note]
    if sn:
        print("\nSmartNoise's odometer: one release alone (the spend above), and one reader after all its releases")
        print("(it composes them with Kairouz et al.'s advanced composition, delta slack delta/2)\n")
        _table(["query", "asked per statistic", "one release", "after the run's releases", "their plain sum"],
               [[name] + note.split(" | ") for name, note in sn])
    print("\nmedian release latency, ms (anonproxy: through the wire, client to rows)\n")
    rows = [[q.name] + ["n/a" if table[lib][q.name].error else fmt(table[lib][q.name].ms, ".3f") for lib in LIBS]
            for q in QUERIES]
    _table(["query"] + LIBS, rows)


def _table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def machine() -> str:
    import duckdb
    import numpy
    import opendp
    import psycopg

    try:
        from importlib.metadata import version
        versions = {p: version(p) for p in ("opendp", "diffprivlib", "scikit-learn")}
    except Exception:
        versions = {"opendp": getattr(opendp, "__version__", "?")}
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except Exception:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.machine()}, {platform.system()}, "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, duckdb {duckdb.__version__}, "
            f"psycopg {psycopg.__version__}, " + ", ".join(f"{k} {v}" for k, v in versions.items()))


def main() -> None:
    if "--smartnoise-worker" in sys.argv:
        smartnoise_worker()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=("run", "build"), default="run")
    parser.add_argument("--runs", type=int, default=200, help="releases per query, library and setting (200)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --runs 20")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-smartnoise", action="store_true")
    parser.add_argument("--no-proxy", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every cell here")
    args = parser.parse_args()
    if args.command == "build" or not DB.exists() or not KEY.exists() or not _keyed(DB):
        build()
        if args.command == "build":
            return
    runs = 20 if args.quick else args.runs
    started = time.time()
    data = load_data()

    # SmartNoise first: its odometer decides the second setting's epsilon per query.
    sn = {"_error": "skipped (--no-smartnoise)"} if args.no_smartnoise else run_smartnoise(runs)
    settings = {
        "equal": ("a true epsilon of 1 per query", lambda q: 1.0),
        "own": ("SmartNoise's own spend (it is asked for 1 per statistic; everyone else gets what its odometer "
                "reports for that query)", lambda q: own_spend(sn, q)),
    }
    floor, dpl, odp = Floor(data, args.seed), Diffprivlib(data, args.seed), OpenDP(data, args.seed)
    proxy, proxy_error = None, ""
    if args.no_proxy:
        proxy_error = "skipped (--no-proxy)"
    else:
        try:
            proxy = Anonproxy()
        except Exception as exc:
            proxy_error = f"proxy: {str(exc)[:100]}"
    results: dict[str, dict[str, dict[str, Cell]]] = {}
    try:
        for key, (title, eps_of) in settings.items():
            table = {"floor": run_library(floor, data, eps_of, runs),
                     "diffprivlib": run_library(dpl, data, eps_of, runs),
                     "OpenDP": run_library(odp, data, eps_of, runs),
                     "SmartNoise": smartnoise_cells(sn, key, data)}
            table["anonproxy"] = (run_library(proxy, data, eps_of, runs) if proxy is not None
                                  else {q.name: Cell(error=proxy_error) for q in QUERIES})
            results[key] = table
        repeat = proxy.repeat(QUERIES[0], runs) if proxy is not None else proxy_error
        prepared = {q.name: [proxy.prepared(q, runs) for _ in range(runs)] for q in QUERIES} if proxy else {}
    finally:
        if proxy is not None:
            proxy.close()

    print(f"# DP accuracy on PUMS (1,000 people), {runs} releases per query, library and setting")
    print(f"machine: {machine()}")
    if "version" in sn:
        print(f"SmartNoise SQL {sn['version']} (with opendp {sn.get('opendp', '?')}, its own venv), "
              f"asked delta {DELTA:g}")
    for key, (title, eps_of) in settings.items():
        print_setting(title, results[key], eps_of)
    print(f"\nanonproxy, `{QUERIES[0].proxy_sql(0)}` with one constant sent again and again: {repeat}")
    if prepared:
        print("\nanonproxy, median release latency in ms: a distinct statement each time (planned each time, "
              "as in the tables above) against a prepared statement with the bound as a parameter (planned once; "
              "each execution a fresh release, charged)")
        rows = []
        for q in QUERIES:
            ok = [r.seconds for r in prepared[q.name] if not r.error]
            errors = {r.error for r in prepared[q.name] if r.error}
            rows.append([q.name, fmt(results["equal"]["anonproxy"][q.name].ms, ".2f"),
                         fmt(statistics.median(ok) * 1e3, ".2f") if ok else f"n/a ({next(iter(errors))})"])
        _table(["query", "distinct statement", "prepared statement"], rows)
    print(f"\ntotal time {time.time() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "runs": runs, "machine": machine(), "smartnoise": sn.get("version"),
            "settings": {k: {lib: {q: vars(c) for q, c in cells.items()} for lib, cells in t.items()}
                         for k, t in results.items()},
            "epsilon": {k: {q.name: eps_of(q) for q in QUERIES} for k, (_, eps_of) in settings.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
