"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl on a free port,
run as the unprivileged 'postgres' OS user when the tests run as root."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class CannotStart(Exception):
    """Why no server could be started (the tests skip with it, CI fails on it)."""


@dataclass
class PgServer:
    bindir: Path
    datadir: Path
    port: int
    runas: list[str]

    def dsn(self, user: str = "postgres", dbname: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        subprocess.run([*self.runas, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise CannotStart("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> PgServer:
    bindir = _bindir()
    runas: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="anonproxy-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            uid = int(subprocess.run(["id", "-u", "postgres"], capture_output=True, text=True, check=True).stdout)
        except (subprocess.CalledProcessError, ValueError):
            raise CannotStart("running as root and there is no 'postgres' OS user to run the server as") from None
        os.chown(root, uid, -1)
        runas = ["runuser", "-u", "postgres", "--"]
    datadir, port = root / "data", _free_port()
    steps = [
        [*runas, str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres", "--no-sync",
         "-E", "UTF8", "--locale=C"],
        [*runas, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(root / "server.log"), "-w", "-t", "60",
         "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
         "start"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            shutil.rmtree(root, ignore_errors=True)
            raise CannotStart(f"{Path(step[len(runas)]).name} failed: {done.stderr.strip() or log[-500:]}")
    return PgServer(bindir, datadir, port, runas)
