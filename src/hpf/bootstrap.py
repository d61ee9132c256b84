"""The one wiring point: everything a center's process is built from, built once at start.

Every entry point starts here — the web application (``hpf.app.create_app``, and
``served_app`` behind ``hpf serve``), the ``hpf`` command (``hpf.cli``, which runs the simulator
and the demo), the benches (``bench/``) and the test suite (``tests/conftest.py``):

- **settings**, read once from the environment by the caller;
- the **key ring** of personal data (``Settings.key_ring``): outside development a process
  without real keys refuses to start (``security.default_key`` and the like); in development
  (``HPF_ENV=development``: tests, ``make demo``, ``hpf demo``) the public development ring;
- the **bank** adapter of settlement and the **SMS** sender, each the real one or the fake one
  the settings choose;
- the **entry groups** of reconciliation: the credits the ledger posts under another entry (the
  loans' successful debits under their month's collection entry), read through
  ``hpf.loans.queries`` and handed to settlement, which sits below the loans;
- the **item handlers** of the application engine (:func:`item_handlers`): every item of the
  national catalog is declared here, with its handler or as reviewed by hand;
- the **event listeners** (:func:`listeners`): who reacts, in the writer's transaction, to which
  business event — the payouts' owners, the applications told of a payout or a loan activated,
  the executors of approved changes;
- the **hub link** (``hpf.transfers.link``: the hub's URL and keys, this center's keys; none when
  the center works alone) and the **message handlers** (:func:`message_handlers`): which message
  from the hub is taken, and by whom;
- the **network lookup** (``hpf.kernel.network``, decision 0031): the co-investigation the loan
  and withdrawal rules ask through, over the hub's HTTP (``hpf.transfers.inquiry``); none without
  a hub link.

:func:`build` makes them and checks that the declaration is complete — an item of the catalog
without a declaration, an approval kind without exactly one executor, a payout owner kind no
listener hears: the process refuses to start (``wiring.incomplete``) instead of letting an
application fall silently to manual review. :func:`install` hands the ring, the handlers and the
listeners to the modules that use them; a module asked for one in a process that did not start
here refuses (``wiring.missing``). :func:`start` does both. Nothing is registered by importing a
module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hpf import events
from hpf.approvals import service as approvals
from hpf.events import Listener
from hpf.identity.sms import FakeSms, SmsSender, UnconfiguredSms
from hpf.kernel import network
from hpf.kernel.errors import HpfError
from hpf.kernel.network import NetworkLookup
from hpf.messages.transport import Poster
from hpf.protection import protect
from hpf.protection.crypto import KeyRing
from hpf.services import handlers
from hpf.services.handlers import ItemHandler
from hpf.settings import Settings
from hpf.settlement import owners
from hpf.settlement.adapter import BankAdapter
from hpf.settlement.reconciliation import EntryGroups
from hpf.settlement.rules import OWNER_KIND_ZH
from hpf.transfers import link as hub_link
from hpf.transfers.link import Handler, HubLink

# Catalog items with no automatic rules: every application goes to a reviewer, and is executed
# when approved (the work itself is done by staff in the account pages).
REVIEWED_BY_HAND = ("AC-OPEN", "AC-CHANGE")


@dataclass(frozen=True)
class Dependencies:
    """What a process of the center runs with."""

    settings: Settings
    ring: KeyRing
    bank: BankAdapter
    sms: SmsSender
    handlers: Mapping[str, ItemHandler | None]
    listeners: tuple[Listener, ...]
    entry_groups: EntryGroups
    hub_link: HubLink | None = None  # None: the center works alone (no HPF_HUB_URL)
    message_handlers: Mapping[tuple[str, bool], Handler] | None = None
    # The co-investigation port of the loan and withdrawal rules (decision 0031): None without a
    # hub link (the rules skip the network check and say so in a finding).
    network_lookup: NetworkLookup | None = None


def item_handlers() -> dict[str, ItemHandler | None]:
    """Every item of the catalog and what decides it: its handler, or ``None`` (by hand)."""
    from hpf.loans.application import handler as loan_application
    from hpf.transfers import handler as transfer_handler
    from hpf.withdrawals import handler as withdrawal_handler

    table: dict[str, ItemHandler | None] = dict.fromkeys(REVIEWED_BY_HAND)
    for handler in (withdrawal_handler.HANDLER, loan_application.HANDLER, transfer_handler.HANDLER):
        for code in handler.item_codes:
            if code in table:
                raise _incomplete([f"item {code} is declared twice"])
            table[code] = handler
    return table


def listeners() -> tuple[Listener, ...]:
    """Who reacts to which business event, in the writer's transaction, in this order."""
    from hpf.accounts import service as accounts
    from hpf.contributions import service as contributions
    from hpf.ledger import service as ledger
    from hpf.loans.application import handler as loan_application
    from hpf.oversight import incentive
    from hpf.oversight import service as supervision
    from hpf.policy import service as policy
    from hpf.services import catalog
    from hpf.settlement.service import CREDIT_RECEIVED
    from hpf.transfers import process as transfer_process
    from hpf.withdrawals import handler as withdrawal_handler
    from hpf.withdrawals import service as withdrawals

    return (
        # A payout ended (payment_order.paid / .failed): its owner learns it.
        owners.listener("withdrawal", "withdrawal payout ended", withdrawals.payout_settled),
        owners.listener("loan", "loan disbursement ended", loan_application.disbursement_settled),
        # A withdrawal paid or released: its application is executed or failed.
        Listener(
            "withdrawal application told",
            withdrawal_handler.PAYOUT_ENDED,
            withdrawal_handler.tell_application,
        ),
        # A loan disbursed through settlement is active: its application is executed.
        Listener("loan application executed", ("loan.activated",), loan_application.loan_activated),
        # An approved change is carried out by the capability it changes.
        approvals.executor(approvals.LEDGER_REVERSAL, ledger.reverse_as_approved),
        approvals.executor(approvals.POLICY_CHANGE, policy.schedule_as_approved),
        approvals.executor(approvals.FUNDS_REFUND, contributions.refund_as_approved),
        approvals.executor(approvals.CATALOG_PUBLISH, catalog.publish_as_approved),
        approvals.executor(approvals.MEMBER_IDENTITY, accounts.correct_identity_as_approved),
        # -- cross-center transfer (decision 0030) --
        # The old center's payout to the new center's fund account ended.
        owners.listener(
            transfer_process.OWNER_KIND, "transfer payout ended", transfer_process.payout_settled
        ),
        # Money in that no order names: a transfer's, when a BDC905 named its payout number.
        Listener(
            "transfer credit matched",
            (CREDIT_RECEIVED,),
            transfer_process.credit_received,
            call_many=transfer_process.credits_received,  # a group of notices matched together (0045)
        ),
        # A transfer's message refused for a suspended center: the transfer held (decision 0043).
        Listener(
            "transfer held for a suspended center", ("hub_message.refused",), transfer_process.message_refused
        ),
        # -- supervision (decision 0040) --
        # A listed employer's list waits for a stricter review.
        Listener("listed employer's list reviewed", ("remittance.submitted",), supervision.strict_review),
        # A good-credit employer's application is served first, within the incentive's days (0042).
        Listener(
            "good-credit employer served first", ("application.accepted",), incentive.fast_track_application
        ),
    )


def message_handlers() -> dict[tuple[str, bool], Handler]:
    """Which message the center takes from the hub, and who handles it: (type, is an answer).

    Taking a new message type (BDC901 contact letters, BDC905 transfer-out information) is its
    body model in ``hpf.messages.bodies`` and one line here."""
    from hpf.transfers import service as transfers

    table = dict(transfers.HANDLERS)
    # -- cross-center transfer (decision 0030) --
    from hpf.transfers import process as transfer_process

    table.update(transfer_process.HANDLERS)
    # -- supervision: problems and the national credit list (decision 0040) --
    from hpf.oversight import service as supervision

    table.update(supervision.HANDLERS)
    return table


def network_lookup(link: HubLink | None, hub_post: Poster | None = None) -> NetworkLookup | None:
    """The inquiry the business rules ask the network through (decision 0031): over the hub's
    HTTP when the center has a hub link (``hub_post`` replaces the HTTP client: tests), else None."""
    if link is None:
        return None
    from hpf.messages.transport import http_poster
    from hpf.transfers.inquiry import NetworkInquiry

    return NetworkInquiry(hub_post or http_poster())


def _incomplete(problems: list[str]) -> HpfError:
    return HpfError(
        "wiring.incomplete",
        "系统启动配置不完整，拒绝启动",
        "the wiring is incomplete (hpf.bootstrap): " + "; ".join(problems),
        status=500,
        problems=problems,
    )


def check(
    table: Mapping[str, ItemHandler | None],
    declared: tuple[Listener, ...],
    messages: Mapping[tuple[str, bool], Handler] | None = None,
) -> None:
    """Refuse a declaration that leaves something unwired (``wiring.incomplete``)."""
    from hpf.messages.bodies import body_model
    from hpf.services.catalog import national_versions

    problems: list[str] = []
    for message_type, answer in messages or {}:
        if body_model(message_type, answer) is None:
            problems.append(
                f"message {message_type} ({'answer' if answer else 'request'}) has a handler but no body model"
            )
    catalog_codes = {str(item["code"]) for version in national_versions() for item in version.items}
    problems += [
        f"item {code} of the catalog has no declared handler" for code in sorted(catalog_codes - set(table))
    ]
    problems += [f"item {code} is not in the catalog" for code in sorted(set(table) - catalog_codes)]
    for kind in approvals.kinds():
        executors = [x for x in declared if x.hears(approvals.APPROVED, {"kind": kind.name})]
        if len(executors) != 1:
            problems.append(f"approval kind {kind.name} has {len(executors)} executors, not one")
    for owner in OWNER_KIND_ZH:
        for event_type in owners.SETTLED:
            heard = [x for x in declared if x.hears(event_type, {"owner_kind": owner})]
            if len(heard) != 1:
                problems.append(f"{event_type} of owner kind {owner} has {len(heard)} listeners, not one")
    if problems:
        raise _incomplete(problems)


def default_sms(settings: Settings) -> SmsSender:
    """A recording fake in development; elsewhere nothing is sent until a gateway is configured."""
    return FakeSms() if settings.env == "development" else UnconfiguredSms()


def build(
    settings: Settings,
    *,
    sms: SmsSender | None = None,
    bank: BankAdapter | None = None,
    hub_post: Poster | None = None,
) -> Dependencies:
    """The process's dependencies from ``settings`` (``sms`` and ``bank`` replace the configured
    ones: tests, the console SMS of ``hpf serve`` in development). Refuses to build without a
    real key ring outside development, and with an incomplete wiring."""
    from hpf.loans.queries import collected_debits_subquery
    from hpf.settlement import adapter

    ring = settings.key_ring()  # refuses a missing or public key outside development
    table = item_handlers()
    declared = listeners()
    messages = message_handlers()
    check(table, declared, messages)
    link = hub_link.link_from_settings(settings)  # refuses a hub URL without keys
    return Dependencies(
        settings=settings,
        ring=ring,
        bank=bank if bank is not None else adapter.from_settings(settings),
        sms=sms if sms is not None else default_sms(settings),
        handlers=table,
        listeners=declared,
        entry_groups=collected_debits_subquery,
        hub_link=link,
        message_handlers=messages,
        network_lookup=network_lookup(link, hub_post),
    )


def install(deps: Dependencies) -> Dependencies:
    """Hand the ring, the item handlers and the listeners to the modules of this process."""
    protect.install(deps.ring)
    handlers.install(deps.handlers)
    events.install(deps.listeners)
    hub_link.install(deps.hub_link, deps.message_handlers or {})
    network.install(deps.network_lookup)
    return deps


def start(
    settings: Settings,
    *,
    sms: SmsSender | None = None,
    bank: BankAdapter | None = None,
    hub_post: Poster | None = None,
) -> Dependencies:
    """Build and install: how every process of the center starts."""
    return install(build(settings, sms=sms, bank=bank, hub_post=hub_post))
