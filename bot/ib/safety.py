"""The safety gate: which mode the bot runs in, and whether it may start at all.

Pure: decided once per connection from the settings, the accounts the gateway manages and the
``--live`` flag. The broker applies the verdict in one place (where orders leave), so no
``if dry_run`` is scattered through the code.

| broker.kind | dry_run | account     | --live | mode   | orders go to      |
|-------------|---------|-------------|--------|--------|-------------------|
| sim         | any     | DU...       | any    | sim    | the simulator     |
| ib          | true    | any         | any    | shadow | nowhere (shadow)  |
| ib          | false   | DU...       | any    | paper  | the paper account |
| ib          | false   | U... (live) | yes    | live   | the live account  |
| ib          | false   | U... (live) | no     | refused: "pass --live"  |

A live-looking account that would receive orders always needs ``--live``, also behind
``kind: sim`` (a sim config pointed at a real gateway must not trade money). ``read_only``
forbids orders in every mode; a read-only or shadow session never sends one, so it may watch a
live account without ``--live``.

The order gate (``place_refusal``, ``cancel_refusal``) is applied by the broker to every order
it would place and every cancel it would send. Read-only means neither, ever: not a cancel
either, because a cancelled stop leaves a position that a read-only bot can then not close.
The broker logs what it would have done (``order_withheld reason=read_only ...``) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from bot import messages as m
from bot.app.config import Settings

PAPER_PREFIX = "DU"


class Mode(str, Enum):
    SIM = "sim"
    SHADOW = "shadow"
    PAPER = "paper"
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's answer. ``refusal`` is empty when the bot may start."""

    mode: Mode
    account: str
    sends_orders: bool
    """Orders go to the broker (sim, paper, live; never in shadow or read-only)."""
    shadow_fills: bool
    """Orders are filled in shadow from quotes (shadow mode, unless read-only)."""
    read_only: bool
    refusal: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.refusal)

    @property
    def orders_allowed(self) -> bool:
        return not self.read_only and not self.refused


READ_ONLY = "read_only"


def place_refusal(verdict: Verdict | None, connected: bool, settings: Settings) -> str:
    """Why an order may not be placed now (empty when it may): read-only, refused, not
    connected (a real order needs the socket), or a mode that neither sends nor shadows."""
    if settings.broker.read_only or (verdict is not None and verdict.read_only):
        return f"{READ_ONLY}: orders are forbidden"
    if verdict is None or (verdict.sends_orders and not connected):
        return m.NOT_CONNECTED
    if verdict.refused:
        return f"start refused: {verdict.refusal}"
    return "" if verdict.sends_orders or verdict.shadow_fills else "orders are not allowed in this mode"


def cancel_refusal(verdict: Verdict | None, settings: Settings) -> str:
    """Why a cancel may never be sent (empty when it may, now or once connected).

    Read-only is known from the settings before the first connection, so a cancel that
    arrives before the gate's verdict is withheld too."""
    if settings.broker.read_only or (verdict is not None and verdict.read_only):
        return READ_ONLY
    if verdict is not None and verdict.refused:
        return f"start refused: {verdict.refusal}"
    return ""


def is_paper(account: str) -> bool:
    return account.upper().startswith(PAPER_PREFIX)


def _mode(settings: Settings, account: str) -> Mode:
    if settings.broker.kind == "sim":
        return Mode.SIM
    if settings.dry_run:
        return Mode.SHADOW
    return Mode.PAPER if is_paper(account) else Mode.LIVE


def choose_account(configured: str | None, managed: Sequence[str]) -> tuple[str, str]:
    """The account to trade and a refusal reason (empty when fine)."""
    if configured:
        if configured in managed:
            return configured, ""
        return (
            configured,
            f"account {configured} is not managed by this login "
            f"(managed: {', '.join(managed) or 'none'})",
        )
    if len(managed) == 1:
        return managed[0], ""
    if not managed:
        return "", "the gateway reported no managed account"
    return "", f"several accounts are managed ({', '.join(managed)}); set broker.account"


def decide(settings: Settings, managed_accounts: Sequence[str], live_opt_in: bool) -> Verdict:
    """The mode for this session, or a refusal that says why."""
    account, refusal = choose_account(settings.broker.account, managed_accounts)
    mode = _mode(settings, account)
    read_only = settings.broker.read_only
    sends = mode is not Mode.SHADOW and not read_only
    if not refusal and sends and account and not is_paper(account) and not live_opt_in:
        refusal = (
            f"account {account} is not a paper account (DU...) and orders would reach it; "
            "start with --live to trade it, or set dry_run: true / read_only: true"
        )
    return Verdict(
        mode=mode,
        account=account,
        sends_orders=sends and not refusal,
        shadow_fills=mode is Mode.SHADOW and not read_only and not refusal,
        read_only=read_only,
        refusal=refusal,
    )
