"""Fixtures shared by every test: no actor outlives its test; logs go where pytest captures."""

from __future__ import annotations

import sys

import pykka
import pytest
from loguru import logger

# loguru's default sink holds the sys.stderr of import time, which bypasses pytest's capture:
# write to whatever sys.stderr is at each message instead, so logs show only for failures.
logger.remove()
logger.add(lambda message: sys.stderr.write(message), level="INFO")


@pytest.fixture(autouse=True)
def _stop_all_actors():
    yield
    pykka.ActorRegistry.stop_all(timeout=10)
