"""A throwaway PostgreSQL cluster from the local ``initdb``/``pg_ctl`` (tests and benchmarks).

``initdb`` and ``postgres`` refuse to run as root; when we are root the cluster is created and
run as the ``postgres`` user through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Server settings of the batch benchmarks: what a production PostgreSQL on this 24 GiB machine
# would have for nightly batch work, instead of the defaults sized for a 128 MB container.
BATCH_PG_SETTINGS = {
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    # a batch job writes a few GB of WAL: no checkpoint in the middle of it (the default of 1GB
    # forces one every few seconds), and room to buffer WAL between flushes
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "wal_buffers": "64MB",
    # the posting engine stages a million journal lines in a temporary table: keep it in memory
    "temp_buffers": "256MB",
}


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is absent."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# What the test suite's throwaway clusters give up (nothing in them outlives the run). Benchmarks
# start with ``durable=True`` to report production figures: these are then the server defaults.
FAST_UNSAFE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass
class PgCluster:
    bin_dir: Path
    data_dir: Path
    socket_dir: Path
    port: int
    options: str = ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def stop_server(self) -> None:
        """Stop the server but keep the cluster (fault tests: the database goes away)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        log = self.data_dir.parent / "log"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", self.options, "-l", str(log), "-w", "start")
        deadline = time.monotonic() + 20
        while not (self.socket_dir / f".s.PGSQL.{self.port}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("PostgreSQL did not start")
            time.sleep(0.1)

    def durability(self) -> str:
        """The three settings a benchmark's PostgreSQL figure depends on, as one line."""
        names = ("fsync", "synchronous_commit", "full_page_writes")
        return "PostgreSQL durability: " + ", ".join(f"{n}={self.setting(n)}" for n in names)

    def setting(self, name: str) -> str:
        """A server setting as the running server reports it (``SHOW``)."""
        cmd = [str(self.bin_dir / "psql"), "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres"]
        out = subprocess.run([*cmd, "-Atc", f"SHOW {name}"], check=True, capture_output=True, text=True)
        return out.stdout.strip()


def start_cluster(settings: dict[str, str] | None = None, *, durable: bool = False) -> PgCluster:
    """Start a cluster; ``settings`` adds server options (benchmarks give it more memory).

    Without ``durable`` the cluster runs with fsync, synchronous commit and full-page writes off
    (``FAST_UNSAFE``): fine for tests, not a figure to quote. ``durable=True`` keeps PostgreSQL's
    production defaults for them.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="hpf-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    cluster = PgCluster(bin_dir, data, sock, _free_port())
    cluster._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8")
    chosen = {**({} if durable else FAST_UNSAFE), **(settings or {})}
    cluster.options = f"-p {cluster.port} -k {sock} -c listen_addresses=''" + "".join(
        f" -c {name}={value}" for name, value in chosen.items()
    )
    cluster.start_server()
    return cluster
