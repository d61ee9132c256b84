"""Benchmark encryption at rest: SM4-GCM + HMAC-SM3 for a 1M-member center, and blind-index lookups.

    python bench/bench_crypto.py [--rows 1000000] [--lookups 1000] [--workers 2] [--postgres]

(a) Encrypts ``--rows`` × (resident ID + phone) and computes both blind indexes, as the demo
    generator must for a 1M-member center (target: ≤ 30 s added), single-threaded and with a
    ``ProcessPoolExecutor`` of ``--workers`` processes over chunks (pickling in and out counted).
(b) Loads those rows into a table (id, resident_id_bidx indexed, resident_id_enc) with the bulk
    helper (one executemany on SQLite, COPY on PostgreSQL), then times ``--lookups`` random exact
    lookups by ID number: HMAC + indexed SELECT + decrypt (target: < 5 ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from sqlalchemy import BigInteger, Column, MetaData, String, Table, bindparam, select

from hpf.db.bulk import bulk_insert
from hpf.db.engine import make_engine, write_transaction
from hpf.db.testing import PgCluster, start_cluster
from hpf.protection.crypto import KeyRing

RID = "member.resident_id"
PHONE = "member.phone"
CHUNK = 50_000

Encrypted = tuple[list[str], list[str], list[str], list[str]]

_ring: KeyRing | None = None


def bench_ring() -> KeyRing:
    # Bench keys, not the development key, so the figures are those of a configured ring.
    return KeyRing.from_material(
        {"k1": b"bench key material k1, 32 bytes or more", "k2": b"bench key material k2, 32 bytes or more"},
        active="k2",
        blind=("b1", b"bench blind-index key material, 32+ bytes"),
    )


def resident_id(i: int) -> str:
    return f"1101011990{i:07d}X"


def phone(i: int) -> str:
    return f"13{i:09d}"


def encrypt_rows(ring: KeyRing, first: int, count: int) -> Encrypted:
    enc, bidx, penc, pbidx = [], [], [], []
    encrypt, index = ring.encrypt, ring.blind_index
    for i in range(first, first + count):
        rid, ph = resident_id(i), phone(i)
        enc.append(encrypt(rid, context=RID))
        bidx.append(index(rid, context=RID))
        penc.append(encrypt(ph, context=PHONE))
        pbidx.append(index(ph, context=PHONE))
    return enc, bidx, penc, pbidx


def _init_worker(ring: KeyRing) -> None:
    global _ring
    _ring = ring


def _worker(span: tuple[int, int]) -> Encrypted:
    assert _ring is not None
    return encrypt_rows(_ring, *span)


def encrypt_parallel(ring: KeyRing, rows: int, workers: int) -> Encrypted:
    spans = [(start, min(CHUNK, rows - start)) for start in range(0, rows, CHUNK)]
    out: Encrypted = ([], [], [], [])
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(ring,)) as pool:
        for part in pool.map(_worker, spans):
            for whole, piece in zip(out, part, strict=True):
                whole.extend(piece)
    return out


def lookup_bench(url: str, ring: KeyRing, data: Encrypted, lookups: int, seed: int) -> dict[str, float]:
    engine = make_engine(url)
    table = Table(
        "bench_member",
        MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("resident_id_bidx", String(32), nullable=False),
        Column("resident_id_enc", String(100), nullable=False),
    )
    enc, bidx = data[0], data[1]
    try:
        with write_transaction(engine) as conn:
            table.drop(conn, checkfirst=True)
            table.create(conn)
        started = time.perf_counter()
        with write_transaction(engine) as conn:
            bulk_insert(
                conn,
                table,
                ["id", "resident_id_bidx", "resident_id_enc"],
                zip(range(1, len(enc) + 1), bidx, enc, strict=True),
            )
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        with write_transaction(engine) as conn:
            # Built after the load (faster than maintaining it row by row), as a bulk generator would.
            conn.exec_driver_sql(
                "CREATE UNIQUE INDEX ix_bench_member_bidx ON bench_member (resident_id_bidx)"
            )
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE bench_member")
        indexed = time.perf_counter() - started
        query = select(table.c.id, table.c.resident_id_enc).where(table.c.resident_id_bidx == bindparam("b"))
        rng = random.Random(seed)
        picks = [rng.randrange(len(enc)) for _ in range(lookups)]
        times = []
        with engine.connect() as conn:
            for i in picks:
                wanted = resident_id(i)
                t = time.perf_counter()
                row = conn.execute(query, {"b": ring.blind_index(wanted, context=RID)}).one()
                found = ring.decrypt(row.resident_id_enc, context=RID)
                times.append((time.perf_counter() - t) * 1000)
                assert found == wanted
                assert row.id == i + 1
            conn.rollback()
        times.sort()
        return {
            "load_s": loaded,
            "index_s": indexed,
            "median_ms": statistics.median(times),
            "p99_ms": times[int(len(times) * 0.99) - 1],
            "max_ms": times[-1],
        }
    finally:
        engine.dispose()


def per_op_us(ring: KeyRing) -> dict[str, float]:
    n = 100_000
    token = ring.encrypt(resident_id(1), context=RID)
    out = {}
    calls: tuple[tuple[str, Callable[[], str]], ...] = (
        ("encrypt", lambda: ring.encrypt(resident_id(1), context=RID)),
        ("decrypt", lambda: ring.decrypt(token, context=RID)),
        ("blind_index", lambda: ring.blind_index(resident_id(1), context=RID)),
    )
    for name, call in calls:
        t = time.perf_counter()
        for _ in range(n):
            call()
        out[name] = (time.perf_counter() - t) / n * 1e6
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", action="store_true", help="also time lookups on a throwaway PostgreSQL")
    parser.add_argument(
        "--fast-unsafe",
        action="store_true",
        help="PostgreSQL with fsync, synchronous commit and full-page writes off (not a production figure)",
    )
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {sys.version.split()[0]}, "
        f"cryptography {cryptography.__version__}, {openssl_backend.openssl_version_text()}",
        flush=True,
    )
    ring = bench_ring()
    ops = per_op_us(ring)
    print("per value: " + ", ".join(f"{k} {v:.2f} µs" for k, v in ops.items()), flush=True)

    started = time.perf_counter()
    data = encrypt_rows(ring, 0, args.rows)
    single = time.perf_counter() - started
    print(
        f"(a) {args.rows:,} members × (resident ID + phone), SM4-GCM + HMAC-SM3 blind index each: "
        f"{single:.1f} s single-threaded ({single / args.rows * 1e6:.1f} µs/member; target ≤ 30 s)",
        flush=True,
    )
    if args.workers > 1:
        started = time.perf_counter()
        parallel = encrypt_parallel(ring, args.rows, args.workers)
        seconds = time.perf_counter() - started
        assert parallel[1] == data[1]
        assert parallel[3] == data[3]
        print(
            f"    with {args.workers} worker processes: {seconds:.1f} s ({single / seconds:.2f}x)", flush=True
        )
        del parallel

    targets: list[tuple[str, PgCluster | None]] = [("sqlite", None)]
    if args.postgres:
        targets.append(("postgresql", start_cluster(durable=not args.fast_unsafe)))
    with tempfile.TemporaryDirectory() as tmp:
        for name, cluster in targets:
            url = cluster.url() if cluster else f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            try:
                r = lookup_bench(url, ring, data, args.lookups, args.seed)
            finally:
                if cluster:
                    cluster.stop()
            print(
                f"(b) {name}: loaded {args.rows:,} rows in {r['load_s']:.1f} s, unique index on the blind index "
                f"in {r['index_s']:.1f} s; {args.lookups} random lookups by ID number (HMAC + SELECT + decrypt): "
                f"median {r['median_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms (target < 5 ms)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
