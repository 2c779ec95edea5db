"""The safety gate: mode from settings + account + --live; read_only forbids orders everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app.config import Settings
from bot.ib.safety import Mode, cancel_refusal, choose_account, decide, is_paper, place_refusal


def settings(
    kind: str = "sim", dry_run: bool = True, read_only: bool = False, account: str | None = None
) -> Settings:
    data: dict[str, Any] = {
        "dry_run": dry_run,
        "broker": {"kind": kind, "read_only": read_only, "account": account},
    }
    return Settings.model_validate(data)


GATE = [
    # kind, dry_run, account, --live, mode, sends, shadow, refused
    ("sim", True, "DU1234567", False, Mode.SIM, True, False, False),
    ("sim", False, "DU1234567", False, Mode.SIM, True, False, False),
    ("sim", True, "U1234567", False, Mode.SIM, False, False, True),
    ("sim", True, "U1234567", True, Mode.SIM, True, False, False),
    ("ib", True, "DU1234567", False, Mode.SHADOW, False, True, False),
    ("ib", True, "U1234567", False, Mode.SHADOW, False, True, False),
    ("ib", False, "DU1234567", False, Mode.PAPER, True, False, False),
    ("ib", False, "U1234567", False, Mode.LIVE, False, False, True),
    ("ib", False, "U1234567", True, Mode.LIVE, True, False, False),
]


@pytest.mark.parametrize(
    ("kind", "dry_run", "account", "live", "mode", "sends", "shadow", "refused"), GATE
)
def test_gate_table(
    kind: str,
    dry_run: bool,
    account: str,
    live: bool,
    mode: Mode,
    sends: bool,
    shadow: bool,
    refused: bool,
) -> None:
    verdict = decide(settings(kind, dry_run), [account], live_opt_in=live)
    assert (verdict.mode, verdict.sends_orders, verdict.shadow_fills, verdict.refused) == (
        mode,
        sends,
        shadow,
        refused,
    )
    assert verdict.account == account


def test_refusal_says_why_and_how_to_fix_it() -> None:
    verdict = decide(settings("ib", dry_run=False), ["U1234567"], live_opt_in=False)
    assert "U1234567" in verdict.refusal
    assert "--live" in verdict.refusal
    assert verdict.orders_allowed is False


@pytest.mark.parametrize(
    ("kind", "dry_run", "account", "mode"),
    [
        ("sim", True, "DU1", Mode.SIM),
        ("ib", True, "DU1", Mode.SHADOW),
        ("ib", False, "DU1", Mode.PAPER),
        ("ib", False, "U1", Mode.LIVE),
    ],
)
def test_read_only_forbids_orders_in_every_mode(
    kind: str, dry_run: bool, account: str, mode: Mode
) -> None:
    verdict = decide(settings(kind, dry_run, read_only=True), [account], live_opt_in=False)
    assert (verdict.mode, verdict.refused) == (mode, False)
    assert (verdict.sends_orders, verdict.shadow_fills, verdict.orders_allowed) == (
        False,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("configured", "managed", "account", "problem"),
    [
        (None, ["DU1"], "DU1", ""),
        ("DU2", ["DU1", "DU2"], "DU2", ""),
        ("DU3", ["DU1", "DU2"], "DU3", "not managed"),
        (None, ["DU1", "DU2"], "", "several accounts"),
        (None, [], "", "no managed account"),
    ],
)
def test_choose_account(
    configured: str | None, managed: list[str], account: str, problem: str
) -> None:
    chosen, refusal = choose_account(configured, managed)
    assert chosen == account
    assert (problem in refusal) if problem else refusal == ""


def test_unmanaged_configured_account_refuses_start() -> None:
    verdict = decide(settings("ib", dry_run=False, account="DU9"), ["DU1"], live_opt_in=True)
    assert verdict.refused and "not managed" in verdict.refusal


@pytest.mark.parametrize(
    ("account", "paper"), [("DU1234567", True), ("du42", True), ("U1234567", False), ("", False)]
)
def test_is_paper(account: str, paper: bool) -> None:
    assert is_paper(account) is paper


ORDER_GATE = [
    # kind, dry_run, read_only, verdict known, connected, place refusal, cancel refusal
    ("sim", True, False, True, True, "", ""),
    ("ib", True, False, True, False, "", ""),  # shadow: the book works without the socket
    ("ib", False, False, True, False, "broker not connected", ""),  # a cancel waits, pending
    ("ib", False, False, False, False, "broker not connected", ""),
    ("ib", False, True, True, True, "read_only: orders are forbidden", "read_only"),
    ("ib", True, True, True, True, "read_only: orders are forbidden", "read_only"),
    ("ib", False, True, False, False, "read_only: orders are forbidden", "read_only"),  # before the gate
]


@pytest.mark.parametrize(
    ("kind", "dry_run", "read_only", "known", "connected", "place", "cancel"), ORDER_GATE
)
def test_the_order_gate_never_lets_a_read_only_bot_place_or_cancel(
    kind: str, dry_run: bool, read_only: bool, known: bool, connected: bool, place: str,
    cancel: str,
) -> None:
    config = settings(kind, dry_run, read_only)
    verdict = decide(config, ["DU1234567"], False) if known else None

    assert place_refusal(verdict, connected, config) == place
    assert cancel_refusal(verdict, config) == cancel
