"""Two connected fake banks in one process, each on its own port: the settlement banks of two
centers, so that a payout from one center's fund account to the other's credits the other (its
SBDC100 notice posted to that center). Started by ``bench_transfers.py``:

    python bench/transfer_banks.py --port-a P --account-a ACCT --notify-a URL \
        --port-b P --account-b ACCT --notify-b URL [--notify-group N]

With ``--notify-group N`` the notices go N at a time to ``<URL>/batch`` (one request, one
transaction at the center).

The shared signing key comes from ``HPF_BANK_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import uvicorn

from hpf.settlement.adapter import bank_secret
from hpf.settlement.fakebank import FakeBank, create_fake_bank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for side in ("a", "b"):
        parser.add_argument(f"--port-{side}", type=int, required=True)
        parser.add_argument(f"--account-{side}", required=True)
        parser.add_argument(f"--name-{side}", default="住房公积金管理中心")
        parser.add_argument(f"--notify-{side}", required=True)
    parser.add_argument("--notify-group", type=int, default=1, help="notices per request (1: one each)")
    args = parser.parse_args()
    secret = bank_secret(os.environ.get("HPF_BANK_SECRET"))
    a = FakeBank(center_account=args.account_a, center_name=args.name_a, secret=secret, opening_fen=10**15)
    b = FakeBank(center_account=args.account_b, center_name=args.name_b, secret=secret, opening_fen=10**15)
    a.connect(b)
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                create_fake_bank(bank, notify_url=notify, notify_group=args.notify_group),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        for bank, port, notify in ((a, args.port_a, args.notify_a), (b, args.port_b, args.notify_b))
    ]

    async def serve() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    asyncio.run(serve())


if __name__ == "__main__":
    main()
