"""A month's report counts are as of its last day (decision 0042), on both engines: computed on
31 January and again on 28 February — after a February of seals, unseals, a freeze, openings,
a closing, a deferral and lists filed and posted — January's figures are the same.

January by hand: employer E (opened 2 January) has 张三, 李四, 王五, 赵六; its January list of the
four (12 % + 12 % of 8,000.00 = 1,920.00 each, 768,000 fen) is paid and posted on 20 January,
which starts E (开户 → 正常); 李四 is sealed on 25 January. Employer F (opened 2 January) has 孙七
and files nothing in January (开户 still). Employer G (opened 10 January) has 周八, who leaves with
a zero balance in February.
- members: 6 opened, 6 alive; 正常 5 (张三, 王五, 赵六, 孙七, 周八), 封存 1 (李四), 冻结 0;
- employers: 3 opened, 正常 1 (E), 缓缴 0, 封存 0; 实缴单位数 1 (E), 未缴单位数 0 (F and G are 开户);
- 应缴人数 4, 实缴人次 4, 应归集额 768,000 fen; no loan outstanding.
"""

from __future__ import annotations

from datetime import date

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.rules import CloseKind
from hpf.contributions import service as contributions
from hpf.contributions.rules import Kind, ListRow
from hpf.db.engine import read_transaction, write_transaction
from hpf.supervision import indicators

BASE = 800_000
PART = 96_000
NAMES = ("张三", "李四", "王五", "赵六", "孙七", "周八", "吴九")


def remit(conn, ctx, emp, members, month: str, key: str) -> None:
    rows = [ListRow(n, m.account_no, m.name, BASE, PART, PART) for n, m in enumerate(members, 1)]
    rem = contributions.submit_list(
        conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month=month, rows=rows, source="api", idempotency_key=key
    )  # fmt: skip
    contributions.record_receipt(conn, ctx, emp.account_no, rem.total_fen, f"B-{key}", ctx.clock.today())
    contributions.allocate(conn, ctx, rem.id)


def of(figures, code: str):
    return figures[(code, "")]


def test_a_months_counts_do_not_move_after_it(engine, ctx, clock):
    clock.set(date(2025, 1, 2))
    with write_transaction(engine) as conn:
        e = accounts.register_employer(conn, ctx, employer_payload(1))
        f = accounts.register_employer(conn, ctx, employer_payload(2))
        opened = [
            accounts.open_member(conn, ctx, (e if i < 4 else f).account_no,
                                 member_payload(i + 1, name=NAMES[i], base_fen=BASE))
            for i in range(5)
        ]  # fmt: skip
    zhang, li, wang, zhao, sun = opened
    clock.set(date(2025, 1, 10))
    with write_transaction(engine) as conn:
        g = accounts.register_employer(conn, ctx, employer_payload(3))
        zhou = accounts.open_member(conn, ctx, g.account_no, member_payload(6, name=NAMES[5], base_fen=BASE))
    clock.set(date(2025, 1, 20))
    with write_transaction(engine) as conn:
        remit(conn, ctx, e, [zhang, li, wang, zhao], "2025-01", "e-01")
    clock.set(date(2025, 1, 25))
    with write_transaction(engine) as conn:
        accounts.seal_member(conn, ctx, li.account_no, "离职")
    clock.set(date(2025, 1, 31))
    with read_transaction(engine) as conn:
        on_the_day = indicators.compute(conn, "2025-01")

    counts = {
        "0301005201": 6, "0301005101": 6, "0301005301": 5, "0301005401": 1, "0301005601": 0,  # members
        "0301002101": 3, "0301000401": 3, "0301002301": 1, "0301000801": 0, "0301002401": 0,  # employers
        "0301000201": 1, "0301000301": 0, "0301003101": 4, "0301003301": 4, "0301003501": 0,  # lists
        "0301007101": 4 * 2 * PART, "0302012004": 0,
    }  # fmt: skip
    assert {code: of(on_the_day, code) for code in counts} == counts

    # February: every kind of change a month-end count could pick up.
    clock.set(date(2025, 2, 10))
    with write_transaction(engine) as conn:
        accounts.unseal_member(conn, ctx, li.account_no, "复职")
        accounts.seal_member(conn, ctx, zhao.account_no, "离职")
        accounts.freeze_member(conn, ctx, wang.account_no, "司法冻结")
        accounts.open_member(conn, ctx, e.account_no, member_payload(7, name=NAMES[6], base_fen=BASE))
        accounts.register_employer(conn, ctx, employer_payload(4))
        accounts.close_member(conn, ctx, zhou.account_no, CloseKind.WITHDRAWN, "离职提取销户")
        remit(conn, ctx, f, [sun], "2025-01", "f-01")  # F's January list, filed late: starts F
        accounts.defer_employer(conn, ctx, f.account_no, "2025-02", "2025-06", "经营困难")
        remit(conn, ctx, e, [zhang, li], "2025-02", "e-02")
        accounts.seal_employer(conn, ctx, g.account_no, "停业")
    clock.set(date(2025, 2, 28))
    with read_transaction(engine) as conn:
        later, february = indicators.compute(conn, "2025-01"), indicators.compute(conn, "2025-02")

    assert later == on_the_day  # every figure, not only the counts above
    assert of(february, "0301005401") == 1 and of(february, "0301005601") == 1  # 赵六 sealed, 王五 frozen
    assert of(february, "0301005101") == 6 and of(february, "0301003801") == 1  # 吴九 in, 周八 out
    assert of(february, "0301000801") == 1 and of(february, "0301002401") == 1  # F deferred, G sealed
    assert of(february, "0301002301") == 1 and of(february, "0301002101") == 4  # E 正常; 4 opened
