"""The catalog item ``AC-TRANSFER-IN`` (异地转移接续（转入）) for the application engine.

The member applies at the new center (self-service or counter): the old center's code
(``from_center``, as the hub's registry names it), the old account number (``old_account_no``)
and the old employer's name. ``evaluate`` checks the item's conditions — the member's account
here is open and depositing (C1), the old center is known on the platform and active, no
transfer of the member is under way — and ``on_approved`` starts the transfer: its row and the
contact letter (BDC901) in the approving transaction (``hpf.transfers.process.start``). The
application is executed when the member is credited, or failed when the old center refuses or
the transfer is cancelled (``process``).

The set forms (``evaluate_many``, ``on_approved_many``) serve a bulk filing (单位批量办理转入,
``hpf.services.bulk``, decision 0044): the facts of every application read once — the members'
accounts, the old centers, the transfers under way, the letters the day has left — and the
transfers started together (``filing.start_many``). Each evaluation is the one ``evaluate``
gives (the same pure function fed either way).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Connection

from hpf.accounts.queries import MemberProfile, member_profile, member_profiles
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.findings import Finding, Verdict
from hpf.services.handlers import Evaluation, Outputs, SheetLine
from hpf.services.payload import Fields
from hpf.services.service import Application
from hpf.transfers import filing, process
from hpf.transfers.link import current_link

ITEM = "AC-TRANSFER-IN"


def request_of(application: Application) -> filing.Request:
    f = Fields(application.payload, "transfer.payload")
    center = f.text("from_center", required=True, max_len=6) or ""
    if not re.fullmatch(r"\d{6}", center):
        raise f.bad("from_center", "转出地管理中心代码须为6位数字")
    return filing.Request(
        out_center=center,
        old_account_no=f.text("old_account_no", required=True, max_len=30) or "",
        old_employer_name=f.text("old_employer_name", max_len=100) or "",
    )


def _member_id(application: Application) -> int:
    if application.member_id is None:
        raise InvalidInput("transfer.member_required", "请填写职工个人账号", "a transfer is about a member")
    return application.member_id


def _evaluation(
    request: filing.Request,
    profile: MemberProfile | None,
    peer_refused: HpfError | None,
    running: str | None,
    peer_name: str | None,
) -> Evaluation:
    """The item's conditions on their facts: the account here open and depositing (C1), the old
    center known and active, no transfer of the member under way."""
    open_here = profile is not None and process.member_state_ok(profile.state)
    peer_ok = peer_refused is None
    peer_detail = "the old center is known and active" if peer_refused is None else peer_refused.title
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
    name = peer_name or request.out_center
    return Evaluation(
        verdict=Verdict.of(findings),
        sheet=(SheetLine("转出地管理中心", name), SheetLine("原住房公积金账号", request.old_account_no)),
    )


def letters_exhausted() -> HpfError:
    return InvalidInput(
        "transfer.letter_sequence", "当日联系函序号已用尽", "this center has numbered 9,999 letters today"
    )


class TransferHandler:
    item_codes: tuple[str, ...] = (ITEM,)

    def evaluate(self, conn: Connection, ctx: Context, application: Application) -> Evaluation:
        request = request_of(application)
        member_id = _member_id(application)
        try:
            process.require_peer(conn, request.out_center, current_link().center_code)
            refused = None
        except HpfError as exc:
            refused = exc
        return _evaluation(
            request,
            member_profile(conn, member_id),
            refused,
            process.open_transfer_of(conn, member_id),
            process.peer_name(conn, request.out_center),
        )

    def evaluate_many(
        self, conn: Connection, ctx: Context, applications: Sequence[Application]
    ) -> list[Evaluation | HpfError]:
        """:meth:`evaluate` of many applications, their facts read once; an application whose
        payload cannot be read gets its refusal in its place. Those that pass beyond the letters
        the day has left (9,999 a day) are refused ``transfer.letter_sequence``."""
        requests: list[tuple[filing.Request, int] | HpfError] = []
        for application in applications:
            try:
                requests.append((request_of(application), _member_id(application)))
            except HpfError as exc:
                requests.append(exc)
        readable = [r for r in requests if not isinstance(r, HpfError)]
        own = current_link().center_code
        profiles = member_profiles(conn, [m for _, m in readable])
        peers = filing.peers(conn, [r.out_center for r, _ in readable])
        running = filing.open_transfers_of(conn, [m for _, m in readable])
        left = filing.letters_left(conn, own, ctx.clock.today())
        out: list[Evaluation | HpfError] = []
        for entry in requests:
            if isinstance(entry, HpfError):
                out.append(entry)
                continue
            request, member_id = entry
            peer = peers.get(request.out_center)
            evaluation = _evaluation(
                request, profiles.get(member_id), filing.peer_refusal(request.out_center, own, peer),
                running.get(member_id), peer.name if peer is not None else None,
            )  # fmt: skip
            if evaluation.eligible and not evaluation.verdict.risks:
                if left <= 0:
                    out.append(letters_exhausted())
                    continue
                left -= 1
            out.append(evaluation)
        return out

    def on_approved(
        self, conn: Connection, ctx: Context, application: Application, evaluation: Evaluation
    ) -> Outputs:
        started = process.start(conn, ctx, application.id, _member_id(application), request_of(application))
        return {"transfer_id": started.id, "letter_no": started.letter_no, "executed": False}

    def on_approved_many(
        self, conn: Connection, ctx: Context, approved: Sequence[tuple[Application, Evaluation]]
    ) -> list[Outputs]:
        """:meth:`on_approved` of many applications: their transfers started together."""
        started = filing.start_many(
            conn, ctx,
            [filing.Starting(a.id, _member_id(a), request_of(a)) for a, _evaluation in approved],
        )  # fmt: skip
        return [{"transfer_id": s.transfer_id, "letter_no": s.letter_no, "executed": False} for s in started]

    def on_ended(self, conn: Connection, ctx: Context, application: Application, state: str) -> None:
        """Nothing is reserved at the new center: a transfer ends by its own messages."""


HANDLER = TransferHandler()
