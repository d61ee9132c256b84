"""What online access reads of members and employers: the ``hpf.identity.identity.Directory``
the accounts publish (identity sits below them and is handed this)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from hpf.accounts.tables import employer, member
from hpf.identity.identity import Holder
from hpf.protection.protect import blind_index, reveal


class AccountDirectory:
    def member(self, conn: Connection, member_id: int) -> Holder | None:
        row = conn.execute(
            select(member.c.account_no, member.c.name, member.c.phone_enc).where(member.c.id == member_id)
        ).first()
        if row is None:
            return None
        phone = reveal("member", "phone", row.phone_enc) if row.phone_enc else None
        return Holder(login=row.account_no.lower(), display_name=row.name, phone=phone)

    def employer(self, conn: Connection, employer_id: int) -> Holder | None:
        row = conn.execute(
            select(employer.c.uscc, employer.c.name, employer.c.contact_phone_enc).where(
                employer.c.id == employer_id
            )
        ).first()
        if row is None:
            return None
        token = row.contact_phone_enc
        phone = reveal("employer", "contact_phone", token) if token else None
        return Holder(login=row.uscc.lower(), display_name=row.name[:60], phone=phone)

    def member_account_of_resident_id(self, conn: Connection, resident_id: str) -> str | None:
        found = conn.scalar(
            select(member.c.account_no).where(
                member.c.resident_id_bidx == blind_index("member", "resident_id", resident_id)
            )
        )
        return None if found is None else str(found)


DIRECTORY = AccountDirectory()
