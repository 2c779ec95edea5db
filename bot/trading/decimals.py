"""Exact decimal arithmetic on prices and amounts that arrive as floats."""

from __future__ import annotations

import math
from decimal import Decimal


def to_decimal(x: float) -> Decimal:
    """The shortest decimal form of ``x``: ``1.95`` becomes ``Decimal("1.95")``, not the binary
    float's ``1.9499999999999999555910790149937...``. Refuses NaN and infinities, which no price,
    equity or percentage may be."""
    if not math.isfinite(x):
        raise ValueError(f"must be finite, got {x}")
    return Decimal(repr(float(x)))
