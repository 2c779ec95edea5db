"""Fixtures shared by every test: no actor outlives its test."""

from __future__ import annotations

import pykka
import pytest


@pytest.fixture(autouse=True)
def _stop_all_actors():
    yield
    pykka.ActorRegistry.stop_all(timeout=10)
