"""Buying back a short: one buy-back working at a time, the next only once the last is done.

A short in an option one of our intents traded breaks invariant 2 (an exit filled just after a
sale outside the bot, faster than any cancel); the execution actor buys it back at market
(``<intent>.coverN``). A buy-back may be lost on its way (never acknowledged) or only
delayed, and the bot cannot tell which, so it never sends the next one while the last may
still fill: an unacknowledged buy-back is cancelled after ``ack_timeout_s`` (and the cancel sent
again every ``cancel_timeout_s`` until IB answers it: a cancel can be lost too), and the next goes
only once IB has said the last is done (filled, cancelled, rejected, or unknown to it) and,
when any of it filled, a position report newer than that has come (IB reports a position
only when it changes: one that did not fill changed nothing, so nothing more is awaited).
Two buy-backs never work at once, and a short that one already bought back is never bought
again (that would leave an unprotected long).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot import messages as m
from bot.trading.trade import CANCEL_REFUSED, cancel_refused

S = m.OrderStatus
_ACKED = frozenset({S.ACKED, S.PARTIAL})


@dataclass(frozen=True, slots=True)
class BuyBack:
    """One buy-back order and what IB said about it."""

    ref: str
    sent_at: datetime
    acked: bool = False
    left_at: datetime | None = None
    """When the broker reported it placed (it may wait in the bot before it leaves)."""
    cancel_sent_at: datetime | None = None
    done_at: datetime | None = None
    filled: bool = False
    """Some of it filled: the next buy-back waits for a position report newer than its end."""


@dataclass(frozen=True, slots=True)
class Covers:
    """The buy-backs of one option: how many were sent, and the last one."""

    sent: int = 0
    last: BuyBack | None = None


@dataclass(frozen=True, slots=True)
class CoverStep:
    """What to do now: send ``send`` (a buy-back), cancel ``cancel`` (a ref), or nothing."""

    send: m.OrderSpec | None = None
    cancel: str | None = None


def step(covers: Covers, intent_id: str, short: float, reported_at: datetime, wall: datetime,
         ack_timeout_s: float, cancel_timeout_s: float, used: int = 0) -> tuple[Covers, CoverStep]:
    """The broker reports ``short`` contracts short (as of ``reported_at``): buy back, cancel an
    unacknowledged buy-back (again if IB has not answered the cancel), or wait for IB's word
    on the last one. ``used``: the highest buy-back number of ``intent_id`` an earlier process
    wrote (the next one numbers on from it)."""
    last = covers.last
    if last is not None and last.done_at is None:
        if last.cancel_sent_at is None:
            since = last.left_at or last.sent_at
            due = not last.acked and (wall - since).total_seconds() >= ack_timeout_s
        else:
            due = (wall - last.cancel_sent_at).total_seconds() >= cancel_timeout_s
        if due:
            return replace(covers, last=replace(last, cancel_sent_at=wall)), CoverStep(cancel=last.ref)
        return covers, CoverStep()
    if last is not None and last.filled and reported_at <= last.done_at:
        return covers, CoverStep()  # the position may not show the last buy-back's fill yet
    number = max(covers.sent, used) + 1
    ref = f"{intent_id}.cover{number}"
    spec = m.OrderSpec(ref, m.Side.BUY, int(round(short)), m.OrderType.MARKET)
    return Covers(number, BuyBack(ref, wall)), CoverStep(send=spec)


def adopt(covers: Covers, ref: str, wall: datetime) -> Covers:
    """A buy-back an earlier process sent that IB still works: the last one, acknowledged."""
    parsed = m.parse_order_ref(ref)
    number = parsed.revision if parsed is not None else 0
    return Covers(max(covers.sent, number), BuyBack(ref, wall, acked=True))


def is_buy_back(ref: str) -> bool:
    """Whether ``ref`` is one of our buy-backs (``<intent>.coverN``)."""
    parsed = m.parse_order_ref(ref)
    return parsed is not None and parsed.role == "cover"


def working(covers: Covers) -> bool:
    """Whether the last buy-back may still fill (sent, and IB has not said it is done)."""
    return covers.last is not None and covers.last.done_at is None


def on_status(covers: Covers, ref: str, status: m.OrderStatus, reason: str,
              wall: datetime, filled: float = 0.0) -> Covers:
    """IB's status of a buy-back: acknowledged, or done (a status that only says our cancel
    was refused, because it filled, is not: its fill follows)."""
    last = covers.last
    if last is None or last.ref != ref or last.done_at is not None:
        return covers
    if status is S.REJECTED and cancel_refused(reason):
        return replace(covers, last=replace(last, acked=True))
    if status in m.DONE_STATUSES:
        return replace(covers, last=replace(last, acked=True, done_at=wall,
                                            filled=filled > 0 or status is S.FILLED))
    if status in _ACKED:
        return replace(covers, last=replace(last, acked=True))
    if status is S.SUBMITTED and last.left_at is None:
        return replace(covers, last=replace(last, left_at=wall))
    return covers


def on_rejected(covers: Covers, ref: str, code: int, wall: datetime) -> Covers:
    """An error about a buy-back: a refused cancel (it filled; its fill follows) leaves it
    working; any other (a rejection, or the cancel's "no such order") means it is done."""
    last = covers.last
    if last is None or last.ref != ref or last.done_at is not None:
        return covers
    if code in CANCEL_REFUSED:
        return replace(covers, last=replace(last, acked=True))
    return replace(covers, last=replace(last, done_at=wall))
