"""Policy what-if (issue 17 item 5): a policy parameter changed in a copy of the center's
database, the simulator run forward from today's real state, side by side with the unchanged
policy run the same way (same seed, same months).

This module holds the run's record (``whatif_run``: queued → running → done / failed), the
parameters offered and their check, and the comparison the page shows. The run itself needs the
simulator, which sits above this package: whoever can (``hpf whatif``, ``hpf serve``) installs a
:data:`Runner` with :func:`install_runner` — ``hpf.sim.planning.run_whatif``. Without one, a run
asked for on the page waits (queued) for ``hpf whatif work``.

Only a SQLite database can be copied as a file; on PostgreSQL a run fails with
``planning.whatif_sqlite_only`` and says what to do (restore a dump into a scratch database and
run ``hpf whatif`` against it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from sqlalchemy import Connection, Engine, select, update

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput, NotFound
from hpf.planning.tables import whatif_run
from hpf.policy.rules import validate_value

RATE_CHANGE = "loan.rate_change_bp"
PARAMETERS: dict[str, str] = {
    "loan.max_amount_fen": "个人住房贷款最高额度（元）",
    "loan.ltv_first_home": "首套住房最高贷款比例（1−最低首付比例）",
    "loan.ltv_second_home": "第二套住房最高贷款比例",
    "withdrawal.rent_monthly_cap_fen": "租房提取每月限额（元）",
    # not a center's policy but the national rate table: supposed moved in the copy (loans.calculator.rates.supposing)
    RATE_CHANGE: "住房公积金贷款利率调整（基点，如50或-25）",
}
MONTHS_MIN, MONTHS_MAX = 1, 24
STATE_ZH = {"queued": "排队中", "running": "运行中", "done": "已完成", "failed": "失败"}
METRIC_ZH = {
    "bank_fen": "银行存款（元）",
    "loan_balance_fen": "个贷余额（元）",
    "deposits_fen": "缴存余额（元）",
    "loan_ratio": "个贷率",
    "coverage_30": "30日备付率",
    "loans_made": "发放贷款笔数",
    "loans_made_fen": "发放贷款金额（元）",
    "withdrawers": "提取人数",
    "withdrawn_fen": "提取金额（元）",
    "people_served": "服务人数（贷款与提取）",
    "new_loans_rate": "期间新发放贷款加权平均利率",
}


class WhatIfParams(TypedDict):
    parameter: str
    value: Any
    months: int
    seed: int


class Outcome(TypedDict):
    """One side of the comparison at the end of the simulated months."""

    start: str
    end: str
    bank_fen: int
    loan_balance_fen: int
    deposits_fen: int
    loan_ratio: str | None
    coverage_30: str | None
    loans_made: int
    loans_made_fen: int
    withdrawers: int
    withdrawn_fen: int
    people_served: int
    new_loans_rate: NotRequired[str | None]  # percent, 4 decimals; None when no loan was made


class WhatIfResult(TypedDict):
    params: WhatIfParams
    base: Outcome
    changed: Outcome


Runner = Callable[[Engine, WhatIfParams], WhatIfResult]
_runner: list[Runner] = []


def install_runner(runner: Runner) -> None:
    """Install the function that runs a what-if (the simulator's, installed from above)."""
    _runner[:] = [runner]


def runner() -> Runner | None:
    return _runner[0] if _runner else None


def check_params(raw: dict[str, Any]) -> WhatIfParams:
    """The parameters of a run, checked: ``parameter`` (one of :data:`PARAMETERS`), ``value``
    (as the policy reads it), ``months`` (1–24), ``seed``."""
    parameter = raw.get("parameter")
    if parameter not in PARAMETERS:
        raise InvalidInput("planning.whatif_parameter", "不支持模拟该政策参数", f"parameter {parameter!r}",
                           field="parameter")  # fmt: skip
    value = raw.get("value")
    if parameter == RATE_CHANGE:
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not value or not -300 <= value <= 300:
            raise InvalidInput("planning.whatif_rate_change", "利率调整须为-300至300之间的非零整数基点",
                               f"rate change {value!r}", field="value")  # fmt: skip
    else:
        validate_value(str(parameter), value)  # refuses with policy.invalid_value
    months = raw.get("months", 12)
    if isinstance(months, bool) or not isinstance(months, int) or not MONTHS_MIN <= months <= MONTHS_MAX:
        raise InvalidInput("planning.whatif_months", f"模拟月数须为{MONTHS_MIN}至{MONTHS_MAX}",
                           f"months {months!r}", field="months")  # fmt: skip
    seed = raw.get("seed", 7)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidInput("planning.whatif_seed", "随机种子须为非负整数", f"seed {seed!r}", field="seed")
    return WhatIfParams(parameter=str(parameter), value=value, months=months, seed=seed)


@dataclass(frozen=True)
class WhatIfRun:
    id: int
    state: str
    params: WhatIfParams
    result: WhatIfResult | None
    error: str | None
    actor: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def state_zh(self) -> str:
        return STATE_ZH.get(self.state, self.state)

    def rows(self) -> list[tuple[str, Any, Any]]:
        """(metric in Chinese, unchanged, changed) for the page."""
        if not self.result:
            return []
        base: dict[str, Any] = dict(self.result["base"])
        changed: dict[str, Any] = dict(self.result["changed"])
        return [(METRIC_ZH[k], base.get(k), changed.get(k)) for k in METRIC_ZH if k in base]


def queue_run(conn: Connection, ctx: Context, params: dict[str, Any]) -> int:
    """Record a run asked for (queued); its id."""
    checked = check_params(params)
    run_id = conn.execute(
        whatif_run.insert()
        .values(state="queued", params=checked, actor=ctx.actor, created_at=ctx.clock.now())
        .returning(whatif_run.c.id)
    ).scalar_one()
    return int(run_id)


def _row(row: Any) -> WhatIfRun:
    return WhatIfRun(int(row.id), row.state, row.params, row.result, row.error, row.actor, row.created_at,
                     row.finished_at)  # fmt: skip


def get_run(conn: Connection, run_id: int) -> WhatIfRun:
    row = conn.execute(select(whatif_run).where(whatif_run.c.id == run_id)).first()
    if row is None:
        raise NotFound("planning.no_such_whatif", "无此政策模拟", f"no what-if run {run_id}")
    return _row(row)


def list_runs(conn: Connection, *, limit: int = 20) -> list[WhatIfRun]:
    rows = conn.execute(select(whatif_run).order_by(whatif_run.c.id.desc()).limit(limit))
    return [_row(r) for r in rows]


def execute(engine: Engine, ctx: Context, run_id: int, run: Runner) -> WhatIfRun:
    """Run a queued what-if with ``run`` and record its outcome (done or failed)."""
    with write_transaction(engine) as conn:
        claimed = conn.execute(
            update(whatif_run).where(whatif_run.c.id == run_id, whatif_run.c.state == "queued")
            .values(state="running").returning(whatif_run.c.params)
        ).first()  # fmt: skip
    if claimed is None:
        with read_transaction(engine) as conn:
            return get_run(conn, run_id)
    try:
        result: WhatIfResult | None = run(engine, check_params(dict(claimed[0])))
        state, error = "done", None
    except HpfError as exc:
        result, state, error = None, "failed", exc.title[:200]
    except Exception as exc:  # a run that breaks is recorded as failed, then re-raised for the log
        with write_transaction(engine) as conn:
            conn.execute(update(whatif_run).where(whatif_run.c.id == run_id).values(
                state="failed", error=f"模拟运行出错：{type(exc).__name__}"[:200], finished_at=ctx.clock.now()))  # fmt: skip
        raise
    with write_transaction(engine) as conn:
        conn.execute(update(whatif_run).where(whatif_run.c.id == run_id).values(
            state=state, result=result, error=error, finished_at=ctx.clock.now()))  # fmt: skip
        return get_run(conn, run_id)


def start_in_background(engine: Engine, ctx: Context, run_id: int) -> bool:
    """Start a queued run in a thread when a runner is installed; whether one was started."""
    found = runner()
    if found is None:
        return False
    threading.Thread(target=execute, args=(engine, ctx, run_id, found), name=f"whatif-{run_id}",
                     daemon=True).start()  # fmt: skip
    return True


def work_queued(engine: Engine, ctx: Context, run: Runner) -> list[int]:
    """Run every queued what-if in order (``hpf whatif work``); their ids."""
    with read_transaction(engine) as conn:
        ids = [int(i) for (i,) in conn.execute(
            select(whatif_run.c.id).where(whatif_run.c.state == "queued").order_by(whatif_run.c.id))]  # fmt: skip
    for run_id in ids:
        execute(engine, ctx, run_id, run)
    return ids
