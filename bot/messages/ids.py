"""Correlation ids."""

from __future__ import annotations

import itertools
import uuid

_counter = itertools.count(1)


def new_correlation_id(prefix: str = "c") -> str:
    """A short id unique in this process and across restarts (random part)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}-{next(_counter)}"
