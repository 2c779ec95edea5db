"""Our ``orderRef``: ``<intent>.<role><revision>``, the one format every order of ours carries.

IB stores ``orderRef`` with the order and returns it on openOrder, completedOrder and
executions, so after any restart an order is recognised as ours, its intent found and its role
known. Examples: ``SPY-202611201435-85f736.entry``, ``....tp``, ``....sl2`` (the stop of the
second exit pair armed for that intent), ``....exit1`` (the first closing order).

Intent ids never contain a dot; roles are lower-case letters; the revision is the decimal
number that may follow the role (0 when absent).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_PATTERN = re.compile(r"^(?P<intent>[^.]+)\.(?P<role>[a-z_]+)(?P<revision>\d*)$")


class OrderRef(NamedTuple):
    """A parsed ``orderRef``."""

    intent_id: str
    role: str
    """``entry``, ``tp``, ``sl``, ``exit`` ..."""
    revision: int = 0

    def __str__(self) -> str:
        return f"{self.intent_id}.{self.role}{self.revision or ''}"


def parse_order_ref(ref: str) -> OrderRef | None:
    """The parts of one of our order refs, or None for anything else (a manual order, another
    program's, an empty ref)."""
    match = _PATTERN.match(ref or "")
    if match is None:
        return None
    revision = match["revision"]
    return OrderRef(match["intent"], match["role"], int(revision) if revision else 0)


def intent_of(ref: str) -> str:
    """The intent id of one of our order refs; the ref itself when it is not one of ours."""
    parsed = parse_order_ref(ref)
    return parsed.intent_id if parsed else ref
