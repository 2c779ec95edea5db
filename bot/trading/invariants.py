"""The money-safety invariants, as checks over plain records of the broker's and the bot's state.

Pure: no I/O, no clock of its own; the caller (``scripts/chaos.py``, tests) builds the records
from whatever it observes and passes the time in. The invariants (README, "Safety"):

1. **Protected.** Every long position the broker holds for one of our intents has, within
   ``protect_within_s``, working protective stop(s) covering its whole quantity, or a working
   closing order (stops and closing orders count together). A bot that reports the position
   ``unprotected_position`` itself is in a stated, alarmed state: still counted, separately,
   as ``1_alarmed``.
2. **No oversell.** Our working SELL orders on a contract never cover more than the broker
   holds there, and a contract we trade is never short at the broker. Both are judged after
   ``settle_s`` of the bot being able to act: a manual trade racing an exit can make either
   for a moment, which no bot can prevent (nor, while it is down, undo); a bot that then
   leaves the excess working or the short open has broken it (and a short made by the bot's
   own exits never goes away by itself, so it is always caught). The bot can act on either
   only once it knows what the broker holds (connected, and its snapshot of that connection
   has come: invariant 5), so the settle time counts from then. While the market is shut
   nothing fills: a short whose whole quantity our working BUY orders cover is being closed
   (IB works them at the next open), which is all a bot can do.
3. **Views agree.** The bot's positions (per contract) and working orders (per orderRef) equal
   the broker's; a difference must be gone within ``settle_s``. The bot's view exists only
   while it is connected: before the snapshot it asks for at each connect has come, it knows
   it does not know (entries stay blocked, nothing is cancelled or re-armed), so its view is
   ``unknown``, and that must not last longer than ``learn_within_s``; differences are judged
   from the moment the view is known.
4. **Entry once.** At most one entry order is ever placed at the broker per intent, across
   crashes and restarts (the caller counts every order id whose orderRef names an entry).
5. **Unknown is never empty** is not observable directly (a timed-out query is invisible at
   the broker); when the bot breaks it, it shows as a break of 1 (protection cancelled), 2
   (exits re-armed for a position that is gone) or 3 (a view built from nothing).

Our orders carry ``orderRef = <intent>.<role><revision>`` (``bot/trading/brackets.py``):
``SPY-202611201435-85f736.entry``, ``.tp``, ``.sl``, ``.tp1``, ``.sl1``, ``.exit1``...
A protective order is a SELL stop; a closing order is any other SELL of ours that is not a
take-profit (``exit1``, a re-priced close, a flatten).

Coverage of a set of orders: members of one OCA group of type 1, 2 or 3 can together sell at
most the largest member's remaining quantity, so a group counts once (its maximum); so do the
children of one bracket parent (IB treats them as one-cancels-other). An order of OCA type 0
(IB: not OCA at all) or without a group counts in full. Only active orders count: ``Submitted``
(a ``PreSubmitted`` bracket child waits for its parent's fill and cannot sell yet).

Times are seconds on whatever clock the caller uses (the chaos harness passes market seconds).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

PROTECTED = "1_protected"
ALARMED = "1_alarmed"
NO_OVERSELL = "2_no_oversell"
VIEWS_AGREE = "3_views_agree"
ENTRY_ONCE = "4_entry_once"
INVARIANTS = (PROTECTED, ALARMED, NO_OVERSELL, VIEWS_AGREE, ENTRY_ONCE)

ACTIVE = "Submitted"
WORKING = frozenset({"PreSubmitted", "Submitted"})
OCA_TYPES = frozenset({1, 2, 3})
_REF = re.compile(r"^(?P<intent>.+)\.(?P<role>[a-z_]+)(?P<revision>\d*)$")
EPS = 1e-9
UNKNOWN_VIEW = "view:unknown"


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed orderRef of ours."""

    intent: str
    role: str
    revision: int


def parse_ref(ref: str) -> Ref | None:
    """``SPY-202611201435-85f736.tp1`` -> Ref(intent, "tp", 1); None for anyone else's ref."""
    match = _REF.match(ref or "")
    if match is None:
        return None
    return Ref(match["intent"], match["role"], int(match["revision"] or 0))


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """One working order at the broker. ``remaining`` is what it can still trade."""

    order_id: int
    ref: str
    con_id: int
    side: str  # BUY | SELL
    remaining: float
    order_type: str  # LMT | MKT | STP | STP LMT ...
    status: str = ACTIVE
    oca_group: str = ""
    oca_type: int = 0
    parent_id: int = 0

    @property
    def ours(self) -> Ref | None:
        return parse_ref(self.ref)

    @property
    def is_stop(self) -> bool:
        return "STP" in self.order_type or "TRAIL" in self.order_type


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One execution at the broker."""

    ref: str
    con_id: int
    side: str  # BUY | SELL (or IB's BOT | SLD)
    qty: float


@dataclass(frozen=True, slots=True)
class BotView:
    """What the bot believes: net contracts held per con_id, and its working orders' refs.
    ``known`` is False while the bot is connected but has not yet had the broker's snapshot
    since that connect (its view is then unknown, not wrong)."""

    positions: Mapping[int, float]
    working_refs: frozenset[str]
    known: bool = True


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything observed at one moment. ``entries_placed`` maps an intent to the distinct
    order ids of its entry orders ever seen at the broker (the whole run, restarts included).
    ``bot`` is None while the bot's view cannot be read (then invariant 3 is not judged)."""

    positions: Mapping[int, float]
    orders: Sequence[BrokerOrder]
    fills: Sequence[BrokerFill]
    entries_placed: Mapping[str, frozenset[int]] = field(default_factory=dict)
    bot: BotView | None = None
    alarmed: bool = False
    """The running bot says it holds an unprotected position (``unprotected_position`` in its
    heartbeat). A property of the process, not of its view: a bot whose requests the gateway
    holds, or that is reconnecting, has no view but can still be in the stated, alarmed state."""
    market_open: bool = True
    """Whether the regular session runs (orders can fill): outside it, a short being bought
    back by working orders of ours is not judged (invariant 2)."""


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    key: str
    detail: str
    at: float = 0.0


# ---- stateless checks ------------------------------------------------------------------------


def _sign(side: str) -> int:
    return 1 if side in ("BUY", "BOT") else -1


def _held_by_us(fills: Iterable[BrokerFill]) -> dict[int, float]:
    """Net contracts our intents bought per con_id (their fills; others' trades excluded)."""
    held: dict[int, float] = defaultdict(float)
    for fill in fills:
        if parse_ref(fill.ref) is not None:
            held[fill.con_id] += _sign(fill.side) * fill.qty
    return dict(held)


def coverage(orders: Iterable[BrokerOrder]) -> float:
    """How much these orders can sell together (see the module docstring)."""
    groups: dict[tuple, float] = {}
    total = 0.0
    for order in orders:
        if order.status != ACTIVE or order.remaining <= EPS:
            continue
        if order.oca_group and order.oca_type in OCA_TYPES:
            key: tuple = ("oca", order.oca_group)
        elif order.parent_id:
            key = ("parent", order.parent_id)
        else:
            total += order.remaining
            continue
        groups[key] = max(groups.get(key, 0.0), order.remaining)
    return total + sum(groups.values())


def _our_sells(orders: Iterable[BrokerOrder], con_id: int) -> list[BrokerOrder]:
    return [o for o in orders if o.con_id == con_id and o.side == "SELL" and o.ours is not None]


def _protective(order: BrokerOrder) -> bool:
    ref = order.ours
    return order.is_stop or (ref is not None and ref.role not in ("tp", "entry"))


def unprotected(snap: Snapshot) -> dict[int, str]:
    """Invariant 1, now: con_id -> why, for each long position of ours not fully covered."""
    out: dict[int, str] = {}
    ours = _held_by_us(snap.fills)
    for con_id, qty in snap.positions.items():
        target = min(qty, ours.get(con_id, 0.0))
        if target <= EPS:
            continue
        sells = _our_sells(snap.orders, con_id)
        covered = coverage(o for o in sells if _protective(o))
        if covered + EPS < target:
            refs = sorted(o.ref for o in sells if o.status == ACTIVE)
            out[con_id] = (f"con_id={con_id} held={target:g} stop_or_close_covers={covered:g} "
                           f"working_sells={refs}")
    return out


def short_positions(snap: Snapshot) -> dict[int, str]:
    """Invariant 2 (hard): con_id -> why, for each contract our intents traded that is short
    (outside the session: and not wholly covered by working BUY orders of ours)."""
    ours = _held_by_us(snap.fills)
    out: dict[int, str] = {}
    for con_id in ours:
        position = snap.positions.get(con_id, 0.0)
        if position >= -EPS:
            continue
        buying = sum(o.remaining for o in snap.orders if o.con_id == con_id and o.side == "BUY"
                     and o.ours is not None and o.status in WORKING)
        if not snap.market_open and buying + EPS >= -position:
            continue
        out[con_id] = f"con_id={con_id} position={position:g} (short) buying={buying:g}"
    return out


def oversold(snap: Snapshot) -> dict[int, str]:
    """Invariant 2 (exits): con_id -> why, where our working sells exceed the position."""
    out: dict[int, str] = {}
    for con_id in {o.con_id for o in snap.orders}:
        sells = _our_sells(snap.orders, con_id)
        held = max(snap.positions.get(con_id, 0.0), 0.0)
        covered = coverage(sells)
        if covered > held + EPS:
            refs = sorted(f"{o.ref}:{o.remaining:g}/oca{o.oca_type}" for o in sells
                          if o.status == ACTIVE)
            out[con_id] = f"con_id={con_id} held={held:g} exits_cover={covered:g} {refs}"
    return out


def view_differences(snap: Snapshot) -> dict[str, str]:
    """Invariant 3, now: key -> why, for each difference between the bot's view and the broker's."""
    if snap.bot is None:
        return {}
    if not snap.bot.known:
        return {UNKNOWN_VIEW: "the bot is connected but has not had the broker's snapshot"}
    out: dict[str, str] = {}
    ours = _held_by_us(snap.fills)
    for con_id in set(ours) | set(snap.bot.positions):
        broker = snap.positions.get(con_id, 0.0)
        bot = snap.bot.positions.get(con_id, 0.0)
        if abs(broker - bot) > EPS:
            out[f"position:{con_id}"] = f"con_id={con_id} broker={broker:g} bot={bot:g}"
    broker_refs = {o.ref for o in snap.orders if o.ours is not None and o.status in WORKING}
    for ref in sorted(broker_refs - snap.bot.working_refs):
        out[f"order:{ref}"] = f"{ref} works at the broker, the bot does not know it as working"
    for ref in sorted(snap.bot.working_refs - broker_refs):
        out[f"order:{ref}"] = f"{ref} is working for the bot, the broker has no such working order"
    return out


def duplicate_entries(entries_placed: Mapping[str, frozenset[int]]) -> dict[str, str]:
    """Invariant 4: intent -> why, for each intent with more than one entry order placed."""
    return {intent: f"{intent} entry placed {len(ids)} times (order ids {sorted(ids)})"
            for intent, ids in entries_placed.items() if len(ids) > 1}


# ---- over time ---------------------------------------------------------------------------------


class InvariantChecker:
    """Judges a stream of snapshots: a condition with a grace period is a violation once it has
    held continuously for that long (a condition that goes away starts its grace period anew
    when it comes back). Each (invariant, key) is reported once per checker, so a count says
    how many distinct things went wrong. A second entry is reported at once."""

    def __init__(self, protect_within_s: float, settle_s: float,
                 learn_within_s: float | None = None) -> None:
        self.protect_within_s = protect_within_s
        self.settle_s = settle_s
        self.learn_within_s = settle_s if learn_within_s is None else learn_within_s
        self._since: dict[tuple[str, str], float] = {}
        self._reported: set[tuple[str, str]] = set()
        self.violations: list[Violation] = []

    def observe(self, snap: Snapshot, now: float, acting_since: float = 0.0,
                knowing_since: float | None = None, acting: bool = True) -> list[Violation]:
        """Check one snapshot at time ``now``; return the violations it newly establishes.

        ``acting_since`` is when the bot last became able to act (connected); a grace period
        never ends before ``acting_since + grace``, so a restarted bot gets its full grace for
        what happened while it was down, while a bot that stays down is judged from the moment
        the condition appeared. ``knowing_since`` (default ``acting_since``) is when the bot's
        view last became known (its snapshot since the connect came): differences between the
        views get their grace from then. While the bot cannot act (``acting`` False: down, or
        its requests held) an excess exit or a short is not judged: only the bot can take its
        orders down or buy back, so it gets its full grace from when it can act again, which
        needs its view of the broker too (``knowing_since`` at or after ``acting_since``).
        Protection (1) is judged all the same: it must live at the broker."""
        knowing_since = acting_since if knowing_since is None else knowing_since
        alarmed = snap.alarmed
        graced = {
            (ALARMED if alarmed else PROTECTED, str(k)): (v, self.protect_within_s)
            for k, v in unprotected(snap).items()
        }
        graced |= {(NO_OVERSELL, f"exits:{k}"): (v, self.settle_s)
                   for k, v in oversold(snap).items()}
        graced |= {(NO_OVERSELL, f"short:{k}"): (v, self.settle_s)
                   for k, v in short_positions(snap).items()}
        graced |= {(VIEWS_AGREE, k): (v, self.learn_within_s if k == UNKNOWN_VIEW
                                      else self.settle_s)
                   for k, v in view_differences(snap).items()}
        hard = {(ENTRY_ONCE, k): v for k, v in duplicate_entries(snap.entries_placed).items()}

        for key in [k for k in self._since if k not in graced]:
            del self._since[key]  # the episode ended: a new one starts a new grace period
        new: list[Violation] = []
        for key, (detail, grace) in graced.items():
            since = self._since.setdefault(key, now)
            if key[0] == NO_OVERSELL and not (acting and knowing_since >= acting_since):
                continue
            start = (knowing_since if key[0] == NO_OVERSELL
                     or key[0] == VIEWS_AGREE and key[1] != UNKNOWN_VIEW else acting_since)
            if now - max(since, start) >= grace and key not in self._reported:
                self._reported.add(key)
                new.append(Violation(key[0], key[1], f"{detail} for {now - since:g}s", now))
        for key, detail in hard.items():
            if key not in self._reported:
                self._reported.add(key)
                new.append(Violation(key[0], key[1], detail, now))
        self.violations += new
        return new

    def pending(self) -> dict[tuple[str, str], float]:
        """Conditions seen but still within their grace period: key -> since when."""
        return {k: t for k, t in self._since.items() if k not in self._reported}

    def by_invariant(self) -> dict[str, int]:
        counts = dict.fromkeys(INVARIANTS, 0)
        for v in self.violations:
            counts[v.invariant] += 1
        return counts
