"""Build the demo database: a fake telecom's customers, their calls, and its cell towers.

Deterministic: the same seed gives the same rows. Fake people only: names are
drawn from common-name lists, e-mail domains are reserved example domains and
phone numbers are in the fictional 555-01xx range.

    python examples/build_demo.py [OUTPUT] [--seed N]
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import os
import random
import tempfile
import time
from pathlib import Path

import duckdb

DEFAULT_SEED = 20240601
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "demo.duckdb"
N_CUSTOMERS = 10_000
TARGET_CALLS = 200_000
MAX_CALLS = 6_000  # calls per customer in the year, for the heaviest callers
AS_OF = dt.date(2025, 1, 1)

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
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "post.example.org",
           "inbox.example.net")
# (city, region, latitude, longitude): fictional towns on plausible coordinates.
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


def _city_weights(n: int) -> list[float]:
    # Zipf-like: a few big cities hold most customers.
    return [1 / (rank + 1) ** 1.1 for rank in range(n)]


def _birth_date(rng: random.Random) -> dt.date:
    age = min(90.0, max(18.0, rng.gauss(44, 15)))
    return AS_OF - dt.timedelta(days=int(age * 365.25) + rng.randrange(365))


def _income(rng: random.Random, age: float, segment: str) -> int:
    base = math.log(55_000) + 0.012 * (min(age, 60) - 40) + {"consumer": 0, "small_business": 0.25,
                                                             "enterprise": 0.6}[segment]
    return int(round(min(650_000, max(9_000, math.exp(rng.gauss(base, 0.55)))), -2))


def _customers(rng: random.Random, zips: dict[str, list[str]]) -> list[tuple]:
    weights = _city_weights(len(CITIES))
    rows, emails, phones = [], set(), set()
    for cid in range(1, N_CUSTOMERS + 1):
        city, region, _, _ = rng.choices(CITIES, weights)[0]
        gender = rng.choices("FMX", (0.49, 0.49, 0.02))[0]
        first = rng.choice(FIRST_F if gender == "F" else FIRST_M if gender == "M" else FIRST_F + FIRST_M)
        last = rng.choice(SURNAMES)
        local = f"{first}.{last}".lower()
        email = f"{local}@{rng.choice(DOMAINS)}"
        while email in emails:
            email = f"{local}{rng.randrange(10, 9999)}@{rng.choice(DOMAINS)}"
        emails.add(email)
        phone = f"+1-{rng.randrange(200, 999)}-555-01{rng.randrange(100):02d}"
        while phone in phones:
            phone = f"+1-{rng.randrange(200, 999)}-555-01{rng.randrange(100):02d}"
        phones.add(phone)
        born = _birth_date(rng)
        age = (AS_OF - born).days / 365.25
        segment = rng.choices(("consumer", "small_business", "enterprise"), (0.80, 0.15, 0.05))[0]
        signup = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3652))
        rows.append((cid, f"{first} {last}", email, phone, born, gender, rng.choice(zips[city]), city,
                     region, segment, _income(rng, age, segment), signup))
    return rows


def _towers(rng: random.Random) -> tuple[list[tuple], dict[str, list[int]]]:
    rows, by_city, cell_id = [], {}, 1000
    for rank, (city, region, lat, lon) in enumerate(CITIES):
        for _ in range(max(3, int(40 / (rank + 1) ** 0.7))):
            rows.append((cell_id, city, region, round(lat + rng.gauss(0, 0.05), 5),
                         round(lon + rng.gauss(0, 0.05), 5)))
            by_city.setdefault(city, []).append(cell_id)
            cell_id += 1
    return rows, by_city


def _calls(rng: random.Random, customers: list[tuple], towers: dict[str, list[int]]) -> list[tuple]:
    # Heavy-tailed activity per customer (Pareto): most make a few dozen calls, a few make thousands.
    activity = [rng.paretovariate(1.3) for _ in customers]
    scale = TARGET_CALLS / sum(activity)
    for _ in range(20):  # the cap on heavy callers shrinks the total: rescale until it is ~ the target
        scale *= TARGET_CALLS / sum(min(a * scale, MAX_CALLS) for a in activity)
    all_towers = [t for ts in towers.values() for t in ts]
    hour_weights = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 3, 5, 6, 6, 6, 7, 6, 6, 6, 6, 7, 8, 8, 7, 5, 3, 2]
    year_start = dt.datetime(2024, 1, 1)
    rows, call_id = [], 1
    for cust, act in zip(customers, activity):
        n = min(int(act * scale + rng.random()), MAX_CALLS)
        home = towers[cust[7]]
        start_day = max(0, (cust[11] - dt.date(2024, 1, 1)).days)
        for _ in range(n):
            day = rng.randrange(start_day, 366) if start_day < 366 else rng.randrange(366)
            hour = rng.choices(range(24), hour_weights)[0]
            started = year_start + dt.timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
            missed = rng.random() < 0.08
            duration = 0 if missed else min(4 * 3600, int(rng.lognormvariate(4.2, 1.1)))
            direction = "outgoing" if rng.random() < 0.55 else "incoming"
            cell = rng.choice(home) if rng.random() < 0.85 else rng.choice(all_towers)
            rate = 0.0 if direction == "incoming" else 0.04
            cost = round(0.05 * (duration > 0) + rate * math.ceil(duration / 60), 2)
            rows.append((call_id, cust[0], started, duration, cell, direction, f"{cost:.2f}"))
            call_id += 1
    rows.sort(key=lambda r: (r[2], r[1]))  # call ids follow time, as a switch would issue them
    return [(i + 1,) + r[1:] for i, r in enumerate(rows)]


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


def _load(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple], tmp: Path) -> None:
    path = tmp / f"{table}.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    columns = ", ".join(f"{name} {kind}" for name, kind in SCHEMA[table])
    con.execute(f"CREATE TABLE {table} ({columns})")
    types = {name: kind.replace(" PRIMARY KEY", "") for name, kind in SCHEMA[table]}
    con.execute(f"INSERT INTO {table} SELECT * FROM read_csv(?, header = false, columns = {types!r}) "
                f"ORDER BY 1", [str(path)])


def build(path: Path, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Build the database at `path` (atomically) and return row counts per table."""
    rng = random.Random(seed)
    zips = {city: [f"{100 + 23 * i:03d}{rng.randrange(100):02d}" for _ in range(rng.randrange(3, 9))]
            for i, (city, *_rest) in enumerate(CITIES)}
    customers = _customers(rng, zips)
    tower_rows, towers = _towers(rng)
    calls = _calls(rng, customers, towers)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        scratch = Path(tmp) / path.name
        con = duckdb.connect(str(scratch))
        for table, rows in (("customers", customers), ("cell_towers", tower_rows), ("calls", calls)):
            _load(con, table, rows, Path(tmp))
        con.execute("CHECKPOINT")
        con.close()
        os.replace(scratch, path)
    return {"customers": len(customers), "calls": len(calls), "cell_towers": len(tower_rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT,
                        help=f"database file to write (default {DEFAULT_OUTPUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    args = parser.parse_args()
    started = time.monotonic()
    counts = build(args.output, args.seed)
    summary = ", ".join(f"{table}: {n:,}" for table, n in counts.items())
    print(f"built {args.output} ({summary}) in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
