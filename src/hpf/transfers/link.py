"""The center's link to the hub: who this center is on the network, the hub's address and keys,
and the handlers of the messages it takes — installed once by ``hpf.bootstrap``.

Built from the settings (:func:`link_from_settings`): ``HPF_HUB_URL``, ``HPF_HUB_CODE``,
``HPF_HUB_PUBLIC_KEYS`` and the center's ``HPF_MESSAGE_KEY_FILE``. Without ``HPF_HUB_URL`` the
center works alone (``None``: sending and the message endpoint refuse ``transfers.hub_unconfigured``);
with it but without the keys the process refuses to start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection

from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.wiring import not_wired
from hpf.messages.bodies import Body
from hpf.messages.envelope import Envelope
from hpf.messages.keys import KeyPair, PublicKeys, public_key
from hpf.settings import Settings


@dataclass(frozen=True)
class Incoming:
    """A message taken, verified and opened: its envelope (header) and its body."""

    envelope: Envelope
    body: Body


# A handler runs in the transaction that records the message as received: what it changes (and
# the messages it sends in answer) commits with the inbox row, or not at all.
Handler = Callable[[Connection, Context, Incoming], None]
# What a set handler answers for each of the messages it took together, in order: None (taken)
# or the refusal of that message alone — which changed nothing (decision 0045).
Outcomes = list[HpfError | None]


@dataclass(frozen=True)
class SetHandler:
    """A handler that takes many messages of one kind together (the items of a BDC902/BDC906 in
    a few statements, decision 0045), and one message as a set of one: ``many`` must change
    nothing for a message it refuses (it pre-filters, it does not roll back), and take the
    others as they would be taken one by one, in order."""

    many: Callable[[Connection, Context, Sequence[Incoming]], Outcomes]

    def __call__(self, conn: Connection, ctx: Context, message: Incoming) -> None:
        [refused] = self.many(conn, ctx, [message])
        if refused is not None:
            raise refused


@dataclass(frozen=True)
class HubLink:
    center_code: str
    keys: KeyPair
    hub_code: str
    hub_url: str
    hub_keys: PublicKeys
    window_seconds: int = 300
    # This center's fund account (资金账号), where another center pays a member's transfer in:
    # the settlement account at the bank (``HPF_BANK_ACCOUNT``) and its holder (``HPF_CENTER_NAME``).
    fund_account_no: str = ""
    fund_account_name: str = ""
    fund_bank_name: str = "住房公积金结算银行"
    # Transfer messages (BDC901/BDC905) sent as items of batches of at most this many (BDC902/906,
    # decision 0036); 0: each its own message.
    batch_max: int = 0

    @property
    def hub_sign_key(self) -> bytes:
        return public_key(self.hub_keys.sign)

    @property
    def hub_encrypt_key(self) -> bytes:
        return public_key(self.hub_keys.encrypt)


def _misconfigured(detail: str) -> HpfError:
    return HpfError("transfers.hub_misconfigured", "平台接入配置不完整，拒绝启动", detail, status=500)


def link_from_settings(settings: Settings) -> HubLink | None:
    if not settings.hub_url:
        return None
    if not settings.message_key_file:
        raise _misconfigured("HPF_HUB_URL is set: set HPF_MESSAGE_KEY_FILE to this center's key file too")
    if not settings.hub_public_keys or settings.hub_public_keys.count(":") != 1:
        raise _misconfigured("HPF_HUB_PUBLIC_KEYS must be '<signing key hex>:<encryption key hex>'")
    sign, encrypt = settings.hub_public_keys.split(":")
    return HubLink(
        center_code=settings.center_code,
        keys=KeyPair.from_file(settings.message_key_file),
        hub_code=settings.hub_code,
        hub_url=settings.hub_url.rstrip("/"),
        hub_keys=PublicKeys(sign=sign.strip().lower(), encrypt=encrypt.strip().lower()),
        window_seconds=settings.message_window_seconds,
        fund_account_no=settings.bank_account,
        fund_account_name=settings.center_name,
        batch_max=max(0, min(settings.transfer_batch, 500)),
    )


@dataclass(frozen=True)
class Installed:
    link: HubLink | None
    handlers: Mapping[tuple[str, bool], Handler]


_installed: Installed | None = None


def install(link: HubLink | None, handlers: Mapping[tuple[str, bool], Any]) -> None:
    """This process's link and message handlers (``hpf.bootstrap`` calls it once at start)."""
    global _installed
    _installed = Installed(link, MappingProxyType(dict(handlers)))


def installed() -> Installed:
    if _installed is None:
        raise not_wired("hub link and message handlers")
    return _installed


def current_link() -> HubLink:
    link = installed().link
    if link is None:
        raise HpfError(
            "transfers.hub_unconfigured",
            "本中心未接入转移接续平台",
            "this center has no hub link (HPF_HUB_URL, HPF_HUB_PUBLIC_KEYS, HPF_MESSAGE_KEY_FILE)",
            status=409,
        )
    return link
