"""The month's indicators of a small center, worked by hand (SQLite and PostgreSQL).

One employer (12 % / 12 %) opened on 2 January 2025 with three members of bases 8,000.00,
6,543.21 and 10,000.00 yuan; its January list is paid on 15 March. Each member's month is
12 % of the base twice: 960.00 + 960.00, 785.19 + 785.19 (785.1852 rounded), 1,200.00 + 1,200.00
→ 5,890.38 yuan = 589,038 fen, valued on 15 March (the day the money came, decision 0019).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.contributions import service as contributions
from hpf.contributions.rules import Kind, ListRow
from hpf.db.engine import read_transaction, write_transaction
from hpf.supervision import indicators

BASES = (800_000, 654_321, 1_000_000)
PARTS = (96_000, 78_519, 120_000)  # 12 % of each base, in fen
TOTAL = 2 * sum(PARTS)  # 589,038 fen


def list_rows(members):
    return [
        ListRow(n, m.account_no, m.name, m.base_fen, p, p)
        for n, (m, p) in enumerate(zip(members, PARTS, strict=True), 1)
    ]


def test_a_small_center_by_hand(engine, ctx, clock):
    clock.set(date(2025, 1, 2))
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        members = [
            accounts.open_member(conn, ctx, emp.account_no, member_payload(i, name=name, base_fen=base))
            for i, (name, base) in enumerate(zip(("张三", "李四", "王五"), BASES, strict=True), start=1)
        ]
    clock.set(date(2025, 3, 15))
    with write_transaction(engine) as conn:
        rem = contributions.submit_list(
            conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month="2025-01", rows=list_rows(members),
            source="api", idempotency_key="k1",
        )  # fmt: skip
        assert rem.total_fen == TOTAL
        contributions.record_receipt(conn, ctx, emp.account_no, TOTAL, "BANK-1", date(2025, 3, 15))
        contributions.allocate(conn, ctx, rem.id)
    with read_transaction(engine) as conn:
        january, march = indicators.compute(conn, "2025-01"), indicators.compute(conn, "2025-03")

    def of(figures, code):
        return figures[(code, "")]

    # January as it stood on 31 January (decision 0042): its list was filed and paid on 15 March,
    # so nothing was filed or paid for January then; the employer was still 开户, not 正常.
    assert of(january, "0301000201") == 0  # 实缴单位数
    assert of(january, "0301003301") == 0  # 实缴人次
    assert of(january, "0301007101") == 0  # 应归集额
    assert of(january, "0301003101") == 0 and of(january, "0301003501") == 0  # 应缴人数, 未缴人数
    assert of(january, "0301002101") == 1 and of(january, "0301002301") == 0  # 开户总单位数, 正常总单位数
    assert of(january, "0301000301") == 0  # 未缴单位数: only 正常 employers owe
    assert of(january, "0301007201") == 0 and of(january, "0301008101") == 0  # no money valued yet
    assert of(january, "0301003601") == 3 and of(january, "0301000501") == 1  # 新增人数, 新增单位数
    # March: the money, by value date; the year to date still counts the employer and its people.
    assert of(march, "0301007201") == TOTAL  # 实归集额 5,890.38
    assert of(march, "0301003201") == 3  # 实缴人数
    assert of(march, "0301008101") == TOTAL  # 归集余额
    assert of(march, "0301010101") == TOTAL and of(march, "0301010801") == 3  # 历史累计归集额, 人数
    assert of(march, "0301000201") == 0 and of(march, "0301000202") == 1  # 实缴单位数, (按年)
    assert of(march, "0301003206") == 3  # 实缴人数(按年)
    assert of(march, "0301003601") == 0 and of(march, "0301005201") == 3 and of(march, "0301005301") == 3
    assert of(march, "0301002101") == 1 and of(march, "0301002301") == 1  # 开户总单位数, 正常总单位数
    assert of(march, "0301007601") == 0 and of(march, "0301020401") == Decimal(0)  # nothing withdrawn
    assert of(march, "0302000801") == 0 and of(march, "0302020301") == Decimal(0)  # no loan: 个贷率 0
    assert of(march, "0301000301") == 1  # 未缴单位数: no March list
    assert all(v >= 0 for (code, _), v in march.items() if not code.startswith("99"))
