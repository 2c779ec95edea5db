"""IB's message rate as the gateway counts it: never more than 50 arrivals in any second,
even when the bot sends in bursts and the machine is busy (IB answers error 100 and closes
the session at the third breach)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ib_insync import IB

from bot.ib.pacing import limit_message_rate

BURSTS = 3
BURST_SIZE = 100
"""Eight symbols choosing options at once (contract details and quotes for each candidate)
plus a reconnect's resubscriptions come to about a hundred messages in one go."""


@pytest.fixture
def cpu_load():
    """Two busy processes for the length of the test (each ends by itself after 60 s)."""
    burners = [subprocess.Popen([sys.executable, "-c",
                                 "import time\nend = time.time() + 60\nwhile time.time() < end: pass"])
               for _ in range(2)]
    yield
    for burner in burners:
        burner.kill()
        burner.wait(timeout=10)


def test_bursts_of_messages_under_cpu_load_never_exceed_ibs_rate(start_gateway, cpu_load):
    # Arrange
    gateway = start_gateway()
    ib = IB()
    ib.connect("127.0.0.1", gateway.port, clientId=1, timeout=10)
    limit_message_rate(ib.client)
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append(code)

    # Act: bursts a few tenths of a second apart, each far above the per-second limit
    for _ in range(BURSTS):
        for _ in range(BURST_SIZE):
            ib.client.reqCurrentTime()
        ib.sleep(0.3)
    for _ in range(200):  # bounded: at 40 per second the queue drains in under 8 s
        if not ib.client._msgQ:
            break
        ib.sleep(0.1)
    ib.reqCurrentTime()  # one round trip after the last message: every one has arrived

    # Assert
    assert not ib.client._msgQ
    assert gateway.counters().get("req.reqCurrentTime", 0) == BURSTS * BURST_SIZE + 1
    assert gateway.counters().get("violation.msg_rate", 0) == 0
    assert 100 not in errors
    ib.disconnect()
