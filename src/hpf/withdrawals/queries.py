"""What other packages may read of withdrawal claims: an SQL building block.

The withdrawals' tables are private to the package (``tests/test_architecture.py``); other
packages read them through this module, or through ``service`` where a use case already answers.
No column here holds personal data in clear: the payee's card, the document number and the
declared family appear only as their blind indexes, which match the same value across claims
(and a family member's index matches ``member.resident_id_bidx``) without revealing it.
"""

from __future__ import annotations

from sqlalchemy import String, Subquery, cast, select

from hpf.withdrawals.tables import withdrawal


def withdrawals_subquery(name: str | None = None) -> Subquery:
    """Every withdrawal claim.

    Columns: ``id``, ``application_id`` (the service application, or NULL), ``member_id``,
    ``reason`` (TQYY), ``allowed_fen``, ``state`` (``pending``, ``reserved``, ``paid``,
    ``refused``, ``released``), ``applied_on``, ``document_no_bidx`` (or NULL),
    ``payee_card_bidx``, ``family_text`` (the declared family's blind indexes as JSON text: a
    person's index is a substring of it exactly when they were declared).
    """
    w = withdrawal.c
    return select(
        w.id,
        w.application_id,
        w.member_id,
        w.reason,
        w.allowed_fen,
        w.state,
        w.applied_on,
        w.document_no_bidx,
        w.payee_card_bidx,
        cast(w.family_bidx, String).label("family_text"),
    ).subquery(name)


def paid_withdrawals_subquery(name: str | None = None) -> Subquery:
    """Every withdrawal paid out (state ``paid``), on the day the bank paid it.

    Columns: ``id``, ``member_id``, ``reason`` (TQYY), ``amount_fen`` (what was paid: the
    allowed amount), ``closes_account`` (``1`` for a 销户提取, else ``0``), ``paid_on``.
    """
    w = withdrawal.c
    return (
        select(w.id, w.member_id, w.reason, w.allowed_fen.label("amount_fen"), w.closes_account, w.paid_on)
        .where(w.state == "paid", w.paid_on.is_not(None))
        .subquery(name)
    )
