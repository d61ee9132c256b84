"""What other packages may read of applications: typed reads and an SQL building block.

The services' tables are private to the package (``tests/test_architecture.py``); other
packages read them through this module, or through ``service`` where a use case already
answers (``find``, ``get``, ``review_queue`` …).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, Subquery, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from hpf.services.tables import application


class Waiting(NamedTuple):
    """An application waiting for review and its latest evaluation (rules, risks, sheet)."""

    id: int
    evaluation: dict[str, Any] | None


def under_review(conn: Connection, *, item_prefix: str, applicant_login: str) -> list[Waiting]:
    """Applications ``under_review`` of items whose code starts with ``item_prefix``, filed by
    ``applicant_login``, by id."""
    rows = conn.execute(
        select(application.c.id, application.c.evaluation)
        .where(
            application.c.state == "under_review",
            application.c.item_code.startswith(item_prefix, autoescape=True),
            application.c.applicant_login == applicant_login,
        )
        .order_by(application.c.id)
    )
    return [Waiting(int(i), evaluation) for i, evaluation in rows]


def application_state_of(application_id: ColumnElement[Any]) -> ScalarSelect[Any]:
    """A column expression: the state of the application ``application_id`` (an SQL expression,
    typically the caller's own column), NULL when there is none."""
    return select(application.c.state).where(application.c.id == application_id).scalar_subquery()


def handled_applications_subquery(name: str | None = None) -> Subquery:
    """Every application about a member and the staff who handled it: who accepted it (受理)
    and who decided it (a login, or ``system`` straight through).

    Columns: ``id``, ``item_code``, ``member_id``, ``state``, ``accepted_by``, ``decided_by``,
    ``submitted_on``.
    """
    a = application.c
    return (
        select(a.id, a.item_code, a.member_id, a.state, a.accepted_by, a.decided_by, a.submitted_on)
        .where(a.member_id.is_not(None))
        .subquery(name)
    )


def applications_by_channel_subquery(name: str | None = None) -> Subquery:
    """Every application with the channel it came by (the center's service channels).

    Columns: ``id``, ``item_code``, ``channel`` (``online`` or ``counter``), ``state``,
    ``submitted_on``, ``member_id`` (or NULL), ``employer_id`` (or NULL).
    """
    a = application.c
    return select(a.id, a.item_code, a.channel, a.state, a.submitted_on, a.member_id, a.employer_id).subquery(
        name
    )
