"""The test suite's log sink (installed by ``conftest.py``)."""

from __future__ import annotations

import sys
from typing import Any

CAPTURING = True
"""False under ``pytest -s`` (set by ``conftest.pytest_configure``)."""


def to_captured_stderr(message: Any) -> None:
    """loguru's default sink holds the sys.stderr of import time, which bypasses pytest's
    capture: write to whatever sys.stderr is at each message instead, so logs show only for
    failures. An actor of a finished test may still log while pytest prints its progress (its
    capture suspended, sys.stderr the terminal's again): that line is dropped, never printed
    among the dots. With ``-s`` everything goes to the terminal."""
    if CAPTURING and sys.stderr is sys.__stderr__:
        return
    sys.stderr.write(message)
