"""Build the demo database: a fake telecom's customers, their calls in 2024, and its cell towers.

Deterministic: the same seed gives the same rows (byte-for-byte identical query
results). Fake people only: names are drawn from common-name lists, e-mail
domains are reserved example domains, phone numbers are in the fictional
555-0100..555-0199 range, and the cities are made up (on plausible coordinates).

The database is built in a scratch directory next to OUTPUT and renamed into
place at the end, so an interrupted build never leaves a half-built file.

    python examples/build_demo.py [OUTPUT] [--seed N]

Tables (schema main):
  customers    10,000 people: contact details, quasi-identifiers, segment, income
  calls        ~200,000 calls in 2024; a few heavy callers make thousands
  cell_towers  a few hundred towers around the cities (a public dimension)
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

DEFAULT_SEED = 20240601
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "demo.duckdb"
N_CUSTOMERS = 10_000
TARGET_CALLS = 200_000
MAX_CALLS = 6_000        # calls in the year for the heaviest lines (a small call centre)
INACTIVE_SHARE = 0.02    # lines that made no call at all in 2024
AS_OF = dt.date(2025, 1, 1)  # ages are 18..90 on this day
YEAR = 2024              # the year of the calls
SIGNUP_FIRST, SIGNUP_LAST = dt.date(2015, 1, 1), dt.date(2024, 12, 31)
FIRST_CELL_ID = 1000

# Names roughly in order of frequency; the draw favours the top of each list.
FIRST_F = ("Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty "
           "Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah "
           "Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma "
           "Nicole Helen Samantha Katherine Christine Debra Rachel Carolyn Janet Catherine Maria Heather "
           "Diane Ruth Julie Olivia Joyce Virginia Victoria Kelly Lauren Christina Joan Evelyn Judith "
           "Megan Andrea Cheryl Hannah Jacqueline Martha Gloria Teresa Ann Sara Madison Frances Kathryn "
           "Janice Jean Abigail Alice Judy Sophia Grace Denise Amber Doris Marilyn Danielle Beverly "
           "Isabella Theresa Diana Natalie Brittany Charlotte Marie Kayla Alexis Lori").split()
FIRST_M = ("James Robert John Michael David William Richard Joseph Thomas Christopher Charles Daniel "
           "Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy "
           "Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott "
           "Brandon Benjamin Samuel Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron "
           "Jose Adam Nathan Henry Douglas Zachary Peter Kyle Ethan Walter Noah Jeremy Christian Keith "
           "Roger Terry Gerald Harold Sean Austin Carl Arthur Lawrence Dylan Jesse Jordan Bryan Billy Joe "
           "Bruce Gabriel Logan Albert Willie Alan Juan Wayne Elijah Randy Roy Vincent Ralph Eugene "
           "Russell Bobby Mason Philip Louis").split()
SURNAMES = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
            "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
            "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
            "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
            "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
            "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
            "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
            "Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell "
            "Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson "
            "Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera "
            "Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez "
            "McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns "
            "Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt").split()
# Reserved example domains (RFC 2606) only, the big "providers" first.
DOMAINS = ("example.com", "mail.example.org", "example.net", "inbox.example.com", "post.example.org",
           "example.org")
DOMAIN_WEIGHTS = (0.34, 0.24, 0.16, 0.12, 0.08, 0.06)
# (city, region, latitude, longitude): fictional towns on plausible coordinates,
# largest first. City i has the zip prefix 100 + 23 * i.
CITIES = [
    ("Harbor City", "Coast", 37.80, -122.27), ("Maple Falls", "North", 45.52, -122.68),
    ("Riverton", "Central", 39.10, -94.58), ("Cedar Grove", "Central", 41.59, -93.62),
    ("Lakeside", "North", 44.98, -93.27), ("Pine Ridge", "Mountain", 39.74, -104.99),
    ("Granite Peak", "Mountain", 40.76, -111.89), ("Sunvale", "South", 33.45, -112.07),
    ("Brookhaven", "East", 40.71, -74.01), ("Fairport", "East", 42.36, -71.06),
    ("Oakmont", "South", 32.78, -96.80), ("Willow Creek", "Coast", 34.05, -118.24),
    ("Stonebridge", "East", 39.95, -75.17), ("Redwood Bay", "Coast", 38.58, -121.49),
    ("Elm Springs", "South", 35.47, -97.52), ("Silver Lake", "North", 43.07, -89.40),
    ("Kingsport", "East", 38.90, -77.04), ("Clearwater", "South", 27.95, -82.46),
    ("Hillcrest", "Central", 38.63, -90.20), ("Northfield", "North", 46.79, -92.10),
    ("Bayview", "Coast", 47.61, -122.33), ("Ashford", "East", 41.76, -72.67),
    ("Mesa Verde", "Mountain", 35.08, -106.65), ("Dunmore", "Central", 39.77, -86.16),
    ("Westbrook", "South", 29.76, -95.37), ("Greenfield", "Central", 41.88, -87.63),
    ("Rockport", "North", 44.31, -69.78), ("Sandy Shores", "South", 30.33, -81.66),
    ("Eagle Pass", "Mountain", 43.62, -116.20), ("Port Marlow", "Coast", 36.60, -121.89),
]
SEGMENTS = ("consumer", "small_business", "enterprise")
SEGMENT_SHARES = (0.80, 0.15, 0.05)
SEGMENT_INCOME = (0.0, 0.22, 0.50)       # log-income uplift
SEGMENT_ACTIVITY = (1.0, 1.8, 3.5)       # business lines call more
SEGMENT_RATE_CENTS = (4, 3, 2)           # per started minute of an outgoing call
CONNECT_CENTS = 5                        # per answered outgoing call; incoming calls are free
# Share of calls by hour of day: quiet nights, busy days, an evening peak.
HOUR_WEIGHTS = (1.0, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 3.0, 5.0, 6.0, 6.0, 6.0,
                7.0, 6.0, 6.0, 6.0, 6.0, 7.0, 8.0, 8.0, 7.0, 5.0, 3.0, 2.0)
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.02, 1.08, 0.85, 0.72)  # Monday .. Sunday
SPECIAL_DAYS = {(1, 1): 1.4, (2, 14): 1.1, (5, 12): 1.3, (7, 4): 0.8, (11, 28): 1.2,
                (12, 24): 1.3, (12, 25): 1.5, (12, 31): 1.4}

SCHEMA = {
    "customers": [("customer_id", "INTEGER PRIMARY KEY"), ("full_name", "VARCHAR"), ("email", "VARCHAR"),
                  ("phone", "VARCHAR"), ("birth_date", "DATE"), ("gender", "VARCHAR"), ("zip", "VARCHAR"),
                  ("city", "VARCHAR"), ("region", "VARCHAR"), ("segment", "VARCHAR"),
                  ("annual_income", "INTEGER"), ("signup_date", "DATE")],
    "calls": [("call_id", "BIGINT PRIMARY KEY"), ("customer_id", "INTEGER"), ("started_at", "TIMESTAMP"),
              ("duration_s", "INTEGER"), ("cell_id", "INTEGER"), ("direction", "VARCHAR"),
              ("cost", "DECIMAL(8,2)")],
    "cell_towers": [("cell_id", "INTEGER PRIMARY KEY"), ("city", "VARCHAR"), ("region", "VARCHAR"),
                    ("lat", "DOUBLE"), ("lon", "DOUBLE")],
}
# How a staged column becomes its stored type, where a plain cast is not enough.
CONVERT = {("calls", "direction"): "CASE WHEN direction THEN 'outgoing' ELSE 'incoming' END",
           ("calls", "cost"): "CAST(cost / 100 AS DECIMAL(8,2))"}  # staged as integer cents


def _rank_weights(n: int, offset: float, power: float = 1.0) -> np.ndarray:
    """Zipf-like probabilities over a list ordered from most to least common."""
    w = 1.0 / (np.arange(n) + offset) ** power
    return w / w.sum()


def _age_weights() -> tuple[np.ndarray, np.ndarray]:
    """Ages 18..90 on AS_OF: fewer young adults, a broad 25-60 plateau, thinning after 60."""
    ages = np.arange(18, 91)
    w = np.where(ages < 25, 0.55 + 0.06 * (ages - 18), 1.0)
    w = np.where(ages > 60, np.clip(1.0 - 0.032 * (ages - 60), 0.04, None) ** 1.5, w)
    return ages, w / w.sum()


def _zips(rng: np.random.Generator) -> list[list[str]]:
    """A handful of distinct 5-digit zips per city, all under the city's 3-digit prefix."""
    out = []
    for i in range(len(CITIES)):
        k = int(rng.integers(3, 9)) if i < 10 else int(rng.integers(2, 5))
        out.append([f"{100 + 23 * i:03d}{z:02d}" for z in sorted(rng.choice(100, k, replace=False))])
    return out


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # born on Feb 29
        return dt.date(day.year + years, 3, 1)


def _customers(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = N_CUSTOMERS
    gender = rng.choice(np.array(["F", "M", "X"]), n, p=[0.495, 0.485, 0.02])
    f_pick = rng.choice(len(FIRST_F), n, p=_rank_weights(len(FIRST_F), 12))
    m_pick = rng.choice(len(FIRST_M), n, p=_rank_weights(len(FIRST_M), 12))
    x_first = rng.random(n) < 0.5
    last_pick = rng.choice(len(SURNAMES), n, p=_rank_weights(len(SURNAMES), 15, 0.9))
    city = rng.choice(len(CITIES), n, p=_rank_weights(len(CITIES), 1.0, 1.15))
    zips = _zips(rng)
    zip_u = rng.random(n)
    ages, age_p = _age_weights()
    age = rng.choice(ages, n, p=age_p)
    day_in_year = rng.random(n)
    segment = rng.choice(len(SEGMENTS), n, p=SEGMENT_SHARES)
    income_z = rng.normal(0.0, 0.55, n)
    signup_u = rng.random(n) ** 0.8  # later years a little more common (growth, churn)
    email_style = rng.choice(4, n, p=[0.55, 0.2, 0.15, 0.1])
    domain = rng.choice(len(DOMAINS), n, p=DOMAIN_WEIGHTS)
    suffix = rng.integers(2, 999, n)
    area = rng.integers(201, 990, n)
    line = rng.integers(0, 100, n)

    cols: dict[str, list] = {name: [] for name, _ in SCHEMA["customers"]}
    emails: set[str] = set()
    phones: set[str] = set()
    for i in range(n):
        g = str(gender[i])
        if g == "F" or (g == "X" and x_first[i]):
            first = FIRST_F[f_pick[i]]
        else:
            first = FIRST_M[m_pick[i]]
        last = SURNAMES[last_pick[i]]
        # Age a on AS_OF <=> born between Jan 2 of AS_OF.year - a - 1 and Jan 1 of AS_OF.year - a.
        earliest = dt.date(AS_OF.year - int(age[i]) - 1, 1, 2)
        span = (dt.date(AS_OF.year - int(age[i]), 1, 1) - earliest).days + 1
        born = earliest + dt.timedelta(days=int(day_in_year[i] * span))
        if _add_years(born, 18) > SIGNUP_LAST:  # turns 18 on AS_OF: a day older, so a signup can follow
            born -= dt.timedelta(days=1)
        adult = max(SIGNUP_FIRST, _add_years(born, 18))
        signup = adult + dt.timedelta(days=int(signup_u[i] * ((SIGNUP_LAST - adult).days + 1)))
        signup = min(signup, SIGNUP_LAST)
        seg = int(segment[i])
        log_income = (np.log(46_000) + SEGMENT_INCOME[seg] + 0.018 * (min(int(age[i]), 55) - 35)
                      - 0.012 * max(int(age[i]) - 67, 0) + income_z[i])
        income = int(round(min(650_000.0, max(12_000.0, float(np.exp(log_income)))), -2))
        f, l = first.lower(), last.lower()
        local = (f"{f}.{l}", f"{f[0]}{l}", f"{f}_{l}", f"{f}.{l}{born.year % 100:02d}")[email_style[i]]
        email = f"{local}@{DOMAINS[domain[i]]}"
        bump = int(suffix[i])
        while email in emails:  # deterministic: the next number after the drawn one
            email = f"{local}{bump}@{DOMAINS[domain[i]]}"
            bump += 1
        emails.add(email)
        a, k = int(area[i]), int(line[i])
        phone = f"+1-{a}-555-01{k:02d}"
        while phone in phones:  # walk to the next free fictional number
            k += 1
            if k == 100:
                k, a = 0, 201 + (a - 200) % 789
            phone = f"+1-{a}-555-01{k:02d}"
        phones.add(phone)
        c = int(city[i])
        city_zips = zips[c]
        zip_code = city_zips[min(int(zip_u[i] ** 1.6 * len(city_zips)), len(city_zips) - 1)]
        for name, value in (("customer_id", i + 1), ("full_name", f"{first} {last}"), ("email", email),
                            ("phone", phone), ("birth_date", born), ("gender", g), ("zip", zip_code),
                            ("city", CITIES[c][0]), ("region", CITIES[c][1]), ("segment", SEGMENTS[seg]),
                            ("annual_income", income), ("signup_date", signup)):
            cols[name].append(value)
    out = {name: np.array(values, dtype=object) for name, values in cols.items()}
    out["customer_id"] = np.arange(1, n + 1, dtype=np.int32)
    out["annual_income"] = np.array(cols["annual_income"], dtype=np.int32)
    out["_city"] = city
    out["_segment"] = segment
    return out


def _towers(rng: np.random.Generator) -> dict[str, np.ndarray]:
    counts = [max(3, int(40 / (rank + 1) ** 0.7)) for rank in range(len(CITIES))]
    city_of = np.repeat(np.arange(len(CITIES)), counts)
    spread = np.repeat([0.02 + 0.006 * np.sqrt(k) for k in counts], counts)  # degrees; bigger cities sprawl
    lat0 = np.array([c[2] for c in CITIES])[city_of]
    lon0 = np.array([c[3] for c in CITIES])[city_of]
    lat = np.round(lat0 + rng.normal(0, 1, city_of.size) * spread, 5)
    lon = np.round(lon0 + rng.normal(0, 1, city_of.size) * spread / np.cos(np.radians(lat0)), 5)
    return {
        "cell_id": np.arange(FIRST_CELL_ID, FIRST_CELL_ID + city_of.size, dtype=np.int32),
        "city": np.array([CITIES[c][0] for c in city_of], dtype=object),
        "region": np.array([CITIES[c][1] for c in city_of], dtype=object),
        "lat": lat, "lon": lon,
        "_first": np.concatenate([[0], np.cumsum(counts)[:-1]]), "_count": np.array(counts),
    }


def _day_weights() -> np.ndarray:
    """Relative call volume of each day of YEAR: weekdays, holidays, a little winter peak."""
    start = dt.date(YEAR, 1, 1)
    days = [start + dt.timedelta(days=d) for d in range((dt.date(YEAR + 1, 1, 1) - start).days)]
    return np.array([WEEKDAY_WEIGHTS[d.weekday()] * SPECIAL_DAYS.get((d.month, d.day), 1.0)
                     * (1.0 + 0.06 * np.cos(2 * np.pi * (d.timetuple().tm_yday - 15) / 366)) for d in days])


def _calls(rng: np.random.Generator, customers: dict[str, np.ndarray],
           towers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n_cust = N_CUSTOMERS
    segment = customers["_segment"]
    # Heavy-tailed activity per line (Pareto): most make a handful to a few dozen calls, a few thousands.
    activity = (rng.pareto(1.3, n_cust) + 1.0) * np.array(SEGMENT_ACTIVITY)[segment]
    activity[rng.random(n_cust) < INACTIVE_SHARE] = 0.0
    # Lines that signed up during the year call (at their usual rate) only for the part of it
    # they were customers.
    first_day = np.array([max(0, (d - dt.date(YEAR, 1, 1)).days) for d in customers["signup_date"]])
    day_w = _day_weights()
    cum = np.concatenate([[0.0], np.cumsum(day_w)])
    share_of_year = (cum[-1] - cum[first_day]) / cum[-1]
    scale = TARGET_CALLS / (activity * share_of_year).sum()
    for _ in range(30):  # the cap on heavy callers shrinks the total: rescale until it is ~ the target
        scale *= TARGET_CALLS / (np.minimum(activity * scale, MAX_CALLS) * share_of_year).sum()
    expected = np.minimum(activity * scale, MAX_CALLS) * share_of_year
    per_customer = (expected + rng.random(n_cust)).astype(np.int64)
    who = np.repeat(np.arange(n_cust), per_customer)  # customer index of each call
    n = who.size

    # Day: weighted by weekday and season, never before the customer signed up.
    first_day = first_day[who]
    u = cum[first_day] + rng.random(n) * (cum[-1] - cum[first_day])
    day = np.clip(np.searchsorted(cum, u, side="right") - 1, first_day, day_w.size - 1)
    hour = rng.choice(24, n, p=np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS))
    second = rng.integers(0, 3600, n)
    started = (np.datetime64(f"{YEAR}-01-01T00:00:00", "s")
               + (day * 86_400 + hour * 3_600 + second).astype("timedelta64[s]"))

    outgoing = rng.random(n) < 0.55
    missed = rng.random(n) < 0.08
    long_talk = rng.random(n) < 0.12
    duration = np.where(long_talk, rng.lognormal(5.9, 0.9, n), rng.lognormal(4.0, 1.0, n))
    duration = np.where(missed, 0, np.minimum(duration, 4 * 3_600)).astype(np.int32)

    # Towers: a home and a work tower in the customer's city, sometimes another one there,
    # sometimes anywhere (travel).
    city = customers["_city"]
    first, count = towers["_first"][city], towers["_count"][city]
    home = first + (rng.random(n_cust) * count).astype(np.int64)
    work = first + (rng.random(n_cust) * count).astype(np.int64)
    where = rng.random(n)
    local = first[who] + (rng.random(n) * count[who]).astype(np.int64)
    anywhere = rng.integers(0, towers["cell_id"].size, n)
    tower = np.select([where < 0.50, where < 0.78, where < 0.88], [home[who], work[who], local], anywhere)
    cell = towers["cell_id"][tower]

    minutes = -(-duration // 60)
    cents = np.where(outgoing & (duration > 0),
                     CONNECT_CENTS + np.array(SEGMENT_RATE_CENTS)[segment[who]] * minutes, 0)

    order = np.lexsort((who, started))  # call ids follow time, as a switch would issue them
    return {
        "call_id": np.arange(1, n + 1, dtype=np.int64),
        "customer_id": customers["customer_id"][who[order]],
        "started_at": started[order], "duration_s": duration[order], "cell_id": cell[order],
        "direction": outgoing[order], "cost": cents[order].astype(np.int32),
    }


def _load(con: duckdb.DuckDBPyConnection, table: str, data: dict[str, np.ndarray]) -> int:
    """Create `table` and fill it from numpy arrays, in primary-key order; return its row count."""
    staged = f"staged_{table}"
    con.register(staged, {name: data[name] for name, _ in SCHEMA[table]})
    columns = ", ".join(f"{name} {kind}" for name, kind in SCHEMA[table])
    con.execute(f"CREATE TABLE {table} ({columns})").fetchall()
    select = ", ".join(CONVERT.get((table, name), f"CAST({name} AS {kind.replace(' PRIMARY KEY', '')})")
                       for name, kind in SCHEMA[table])
    con.execute(f"INSERT INTO {table} SELECT {select} FROM {staged} ORDER BY {SCHEMA[table][0][0]}").fetchall()
    con.unregister(staged)
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def build(path: Path, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Build the database at `path` (atomically: a scratch file renamed into place) and
    return the row count of each table."""
    path = Path(path)
    streams = np.random.SeedSequence(seed).spawn(3)  # one independent stream per table
    customers = _customers(np.random.Generator(np.random.PCG64(streams[0])))
    towers = _towers(np.random.Generator(np.random.PCG64(streams[1])))
    calls = _calls(np.random.Generator(np.random.PCG64(streams[2])), customers, towers)

    path.parent.mkdir(parents=True, exist_ok=True)
    counts = {}
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.build-") as tmp:
        scratch = Path(tmp) / path.name
        con = duckdb.connect(str(scratch))
        try:
            for table, data in (("customers", customers), ("cell_towers", towers), ("calls", calls)):
                counts[table] = _load(con, table, data)
            con.execute("CHECKPOINT").fetchall()
        finally:
            con.close()
        stale_wal = path.with_name(path.name + ".wal")  # would belong to the database being replaced
        if stale_wal.exists():
            stale_wal.unlink()
        os.replace(scratch, path)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="build_demo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT,
                        help=f"DuckDB file to write, replaced if it exists (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="random seed; the same seed gives the same rows (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    counts = build(args.output, args.seed)
    summary = ", ".join(f"{table}: {n:,}" for table, n in counts.items())
    print(f"built {args.output} (seed {args.seed}; {summary}) in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
