"""The catalog item ``AC-TRANSFER-IN`` (异地转移接续（转入）) for the application engine.

The member applies at the new center (self-service or counter): the old center's code
(``from_center``, as the hub's registry names it), the old account number (``old_account_no``)
and the old employer's name. ``evaluate`` checks the item's conditions — the member's account
here is open and depositing (C1), the old center is known on the platform and active, no
transfer of the member is under way — and ``on_approved`` starts the transfer: its row and the
contact letter (BDC901) in the approving transaction (``hpf.transfers.process.start``). The
application is executed when the member is credited, or failed when the old center refuses or
the transfer is cancelled (``process``).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection

from hpf.accounts.queries import member_profile
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.findings import Finding, Verdict
from hpf.services.handlers import Evaluation, Outputs, SheetLine
from hpf.services.payload import Fields
from hpf.services.service import Application
from hpf.transfers import process
from hpf.transfers.link import current_link

ITEM = "AC-TRANSFER-IN"


def request_of(application: Application) -> process.Request:
    f = Fields(application.payload, "transfer.payload")
    center = f.text("from_center", required=True, max_len=6) or ""
    if not re.fullmatch(r"\d{6}", center):
        raise f.bad("from_center", "转出地管理中心代码须为6位数字")
    return process.Request(
        out_center=center,
        old_account_no=f.text("old_account_no", required=True, max_len=30) or "",
        old_employer_name=f.text("old_employer_name", max_len=100) or "",
    )


def _member_id(application: Application) -> int:
    if application.member_id is None:
        raise InvalidInput("transfer.member_required", "请填写职工个人账号", "a transfer is about a member")
    return application.member_id


class TransferHandler:
    item_codes: tuple[str, ...] = (ITEM,)

    def evaluate(self, conn: Connection, ctx: Context, application: Application) -> Evaluation:
        request = request_of(application)
        member_id = _member_id(application)
        profile = member_profile(conn, member_id)
        open_here = profile is not None and process.member_state_ok(profile.state)
        try:
            process.require_peer(conn, request.out_center, current_link().center_code)
            peer_ok, peer_detail = True, "the old center is known and active"
        except HpfError as refused:
            peer_ok, peer_detail = False, refused.title
        running = process.open_transfer_of(conn, member_id)
        findings = [
            Finding.rule(
                "transfer.account_open",
                open_here,
                "已在本中心开立个人账户并正常缴存" if open_here else "本中心个人账户不是正常缴存状态",
                f"member state {profile.state if profile else None}",
            ),
            Finding.rule(
                "transfer.center_known",
                peer_ok,
                "转出地管理中心已接入转移接续平台" if peer_ok else peer_detail,
                peer_detail,
            ),
            Finding.rule(
                "transfer.none_running",
                running is None,
                "无正在办理的转移接续" if running is None else f"已有正在办理的转移接续（联系函{running}）",
                f"running letter {running}",
            ),
        ]
        name = process.peer_name(conn, request.out_center) or request.out_center
        return Evaluation(
            verdict=Verdict.of(findings),
            sheet=(SheetLine("转出地管理中心", name), SheetLine("原住房公积金账号", request.old_account_no)),
        )

    def on_approved(
        self, conn: Connection, ctx: Context, application: Application, evaluation: Evaluation
    ) -> Outputs:
        started = process.start(conn, ctx, application.id, _member_id(application), request_of(application))
        return {"transfer_id": started.id, "letter_no": started.letter_no, "executed": False}

    def on_ended(self, conn: Connection, ctx: Context, application: Application, state: str) -> None:
        """Nothing is reserved at the new center: a transfer ends by its own messages."""


HANDLER = TransferHandler()
