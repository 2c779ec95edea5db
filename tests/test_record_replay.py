"""A recorded simulator session replays bit for bit: what the bot recorded (``record.enabled``)
is what the simulated gateway serves again from ``--replay`` (issue 16's round trip)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
from ib_insync import IB, Stock
from test_recording import BOT_ENV, bars_text, bot_command, write_config

from bot.data import record_format as rf


@pytest.mark.slow
def test_a_recorded_session_replays_bit_for_bit_into_the_same_bars(tmp_path, start_gateway):
    # Arrange: the bot records about 10 simulated minutes of Friday, after Thursday's backfill
    done = subprocess.run(bot_command(write_config(tmp_path), "--duration", "10"), cwd=tmp_path,
                          env=BOT_ENV, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    recorded = bars_text(tmp_path / "rec", "2026-11-19")[1:]  # Thursday's whole session
    assert len(recorded) == 390

    # Act: a gateway replaying that directory, asked for Thursday's bars
    gw = start_gateway(replay_dir=tmp_path / "rec", symbols=("SPY",),
                       start=datetime(2026, 11, 20, 14, 35, tzinfo=UTC))
    ib = IB()
    ib.connect("127.0.0.1", gw.port, clientId=1, timeout=10)
    try:
        bars = ib.reqHistoricalData(Stock("SPY", "SMART", "USD"), "20261119 21:00:00 UTC", "1 D",
                                    "1 min", "TRADES", useRTH=True, formatDate=2)
    finally:
        ib.disconnect()

    # Assert: the same bars, field for field, as the recording holds them
    def row(b) -> list[object]:
        return [rf.iso_utc(b.date), b.open, b.high, b.low, b.close, b.volume]

    assert [row(b) for b in bars] == [
        [t, float(o), float(h), float(lo), float(c), float(v)]
        for t, o, h, lo, c, v in (line.split(",") for line in recorded)]
