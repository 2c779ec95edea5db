"""``python -m bot fetch-history``: the last N closed sessions of 1-minute bars, one request per
session within IB's pacing rules, resumable (issue 16)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot import messages as m
from bot.data.history import day_complete, fetch_history, sessions_to_fetch, write_day
from bot.data.record_format import BAR_HEADER_LINE, bar_row
from bot.trading.exchange_calendar import NY, session_bounds

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


@pytest.mark.parametrize(("now", "days", "expected"), [
    # Friday 10:00: Friday is not closed yet
    (ny(date(2026, 11, 20), 10), 2, [date(2026, 11, 18), date(2026, 11, 19)]),
    # Friday 16:00: closed, so it counts
    (ny(date(2026, 11, 20), 16), 2, [date(2026, 11, 19), date(2026, 11, 20)]),
    # Sunday: the weekend holds no session
    (ny(date(2026, 11, 22), 12), 1, [date(2026, 11, 20)]),
    # the Monday after Thanksgiving: Thursday was a holiday, Friday an early close
    (ny(date(2026, 11, 30), 9), 3, [date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)]),
])
def test_the_sessions_fetched_are_the_last_ones_closed(now, days, expected):
    assert sessions_to_fetch(now.astimezone(UTC), days) == expected


def session_bars(day: date, count: int | None = None) -> list[m.Bar]:
    start, end = session_bounds(day)
    minutes = int((end - start).total_seconds() // 60) if count is None else count
    return [m.Bar("SPY", start + timedelta(minutes=i), 600.0, 600.5, 599.5, 600.25 + i / 100, 100.0)
            for i in range(minutes)]


class FakeGateway:
    """Answers each session's request with its bars (or none), and remembers what was asked."""

    def __init__(self, served: dict[date, list[m.Bar]]) -> None:
        self.served = served
        self.asked: list[tuple[str, datetime]] = []

    def __call__(self, symbol: str, end: datetime) -> list[m.Bar]:
        self.asked.append((symbol, end))
        day = end.astimezone(NY).date()
        return self.served.get(day, [])


MON, TUE, WED, FRI = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)


def test_each_session_is_one_request_ending_at_its_close_even_an_early_one(tmp_path):
    gateway = FakeGateway({WED: session_bars(WED), FRI: session_bars(FRI)})

    results = fetch_history(tmp_path, ["SPY"], [WED, FRI], gateway)

    assert gateway.asked == [("SPY", session_bounds(WED)[1]), ("SPY", session_bounds(FRI)[1])]
    assert [(r.outcome, r.bars) for r in results] == [("fetched", 390), ("fetched", 210)]
    rows = gzip.decompress((tmp_path / "bars/SPY/2026-11-27.csv.gz").read_bytes()).decode()
    assert rows.splitlines() == [BAR_HEADER_LINE, *(bar_row(b) for b in session_bars(FRI))]


def test_a_second_run_skips_complete_days_and_fetches_partial_and_missing_ones_again(tmp_path):
    # Arrange: Monday complete on disk, Tuesday cut short (a recording that began late)
    write_day(tmp_path / "bars/SPY/2026-11-23.csv.gz", [bar_row(b) for b in session_bars(MON)])
    write_day(tmp_path / "bars/SPY/2026-11-24.csv.gz", [bar_row(b) for b in session_bars(TUE, 100)])
    gateway = FakeGateway({d: session_bars(d) for d in (MON, TUE, WED)})

    # Act
    results = fetch_history(tmp_path, ["SPY"], [MON, TUE, WED], gateway)

    # Assert
    assert [r.outcome for r in results] == ["skipped", "fetched", "fetched"]
    assert [end for _, end in gateway.asked] == [session_bounds(d)[1] for d in (TUE, WED)]
    assert all(day_complete(tmp_path / f"bars/SPY/{d}.csv.gz", d) for d in (MON, TUE, WED))


def test_a_day_without_data_writes_nothing_and_a_short_answer_is_marked_partial(tmp_path):
    gateway = FakeGateway({TUE: session_bars(TUE, 5)})

    results = fetch_history(tmp_path, ["SPY"], [MON, TUE], gateway)

    assert [(r.outcome, r.bars) for r in results] == [("no_data", 0), ("partial", 5)]
    assert not (tmp_path / "bars/SPY/2026-11-23.csv.gz").exists()
    assert results[1].line() == "history_partial symbol=SPY day=2026-11-24 bars=5"


def fetch(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "fetch-history", "--config", str(config),
                           "--out", str(tmp_path / "hist"), *args],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_against_a_strict_gateway_it_fetches_within_pacing_and_resumes(tmp_path, start_gateway):
    # Arrange: a simulated gateway holding IB's hard pacing rules for every bar size
    gateway = start_gateway(start=datetime(2026, 11, 20, 15, 0, tzinfo=UTC), speed=1.0,
                            symbols=("SPY", "QQQ"))
    config = tmp_path / "settings.yaml"
    config.write_text(f"broker: {{kind: ib, port: {gateway.port}}}\n")

    # Act: three sessions of two symbols, then the same again after one day was cut short
    first = fetch(tmp_path, config, "--symbols", "SPY,QQQ", "--days", "3")
    spy_wed = tmp_path / "hist/bars/SPY/2026-11-18.csv.gz"
    whole = spy_wed.read_bytes()
    rows = gzip.decompress(whole).decode().splitlines()
    write_day(spy_wed, rows[1:50])
    second = fetch(tmp_path, config, "--symbols", "SPY,QQQ", "--days", "3")

    # Assert: every day whole, none of IB's limits broken; the second run asked only for the cut day
    assert first.returncode == 0, first.stderr[-2000:]
    assert "history_done fetched=6 skipped=0 partial=0 no_data=0" in first.stdout
    assert second.returncode == 0, second.stderr[-2000:]
    assert "history_fetched symbol=SPY day=2026-11-18 bars=390" in second.stdout
    assert "history_done fetched=1 skipped=5 partial=0 no_data=0" in second.stdout
    assert spy_wed.read_bytes() == whole
    assert len(rows) == 1 + 390 and rows[1].startswith("2026-11-18T14:30:00Z,")
    assert gateway.pacing_violations() == 0


def test_a_request_an_earlier_run_made_holds_back_the_identical_one_and_counts_in_the_window():
    from bot.ib.pacing import Governor, Limits, Request

    governor = Governor(Limits(hist_window_max=3))
    earlier = Request("reqHistoricalData", query=("SPY", "20261118-21:00:00"), contract="SPY|SMART|TRADES")
    other = Request("reqHistoricalData", query=("QQQ", "20261118-21:00:00"), contract="QQQ|SMART|TRADES")
    governor.book_past(earlier, at=100.0)
    governor.book_past(other, at=101.0)

    assert governor.admit(earlier, 105.0) == pytest.approx(11.0)  # identical: 16 s after 100
    third = Request("reqHistoricalData", query=("IWM", "x"), contract="IWM|SMART|TRADES")
    assert governor.admit(third, 105.0) == 0.0
    fourth = Request("reqHistoricalData", query=("DIA", "x"), contract="DIA|SMART|TRADES")
    assert governor.admit(fourth, 106.0) == pytest.approx(594.0)  # 3 in 10 minutes: full


def test_no_gateway_listening_is_one_line_and_exit_1(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "settings.yaml"
    config.write_text(f"broker: {{kind: ib, port: {port}, connect_timeout_s: 2}}\n")

    done = fetch(tmp_path, config, "--days", "1")

    assert done.returncode == 1
    assert f"error: gateway 127.0.0.1:{port} not reached: ConnectionRefusedError" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "hist").exists()


@pytest.mark.slow
def test_with_the_simulator_configured_it_fetches_from_an_embedded_one(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("broker: {kind: sim, sim: {start: '2026-11-20T10:00:00-05:00'}}\n")

    done = fetch(tmp_path, config, "--symbols", "SPY", "--days", "1")

    assert done.returncode == 0, done.stderr[-2000:]
    assert "gateway_time=2026-11-20T15:00" in done.stdout
    assert "history_fetched symbol=SPY day=2026-11-19 bars=390" in done.stdout


@pytest.mark.slow
def test_interrupted_with_ctrl_c_it_keeps_the_days_written_and_the_rerun_finishes_within_pacing(
        tmp_path, start_gateway):
    import signal

    # Arrange: a strict gateway; the first run is interrupted once its first day is written
    gateway = start_gateway(start=datetime(2026, 11, 20, 15, 0, tzinfo=UTC), speed=1.0,
                            symbols=("SPY", "QQQ"))
    config = tmp_path / "settings.yaml"
    config.write_text(f"broker: {{kind: ib, port: {gateway.port}}}\n")
    command = [sys.executable, "-m", "bot", "fetch-history", "--config", str(config),
               "--out", str(tmp_path / "hist"), "--symbols", "SPY,QQQ", "--days", "3"]
    first = subprocess.Popen(command, cwd=tmp_path, env=ENV, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert first.stdout is not None
    for _ in range(10):  # bounded: the header line, then the first day
        if first.stdout.readline().startswith("history_fetched"):
            break

    # Act
    first.send_signal(signal.SIGINT)
    _, first_err = first.communicate(timeout=60)
    second = fetch(tmp_path, config, "--symbols", "SPY,QQQ", "--days", "3")

    # Assert: the interrupted run says how to go on; the rerun skips what was written and
    # breaks none of IB's limits, although it follows the interrupted run within seconds
    assert first.returncode == 1 and "interrupted; the days written are kept" in first_err
    assert second.returncode == 0, second.stderr[-2000:]
    assert "history_skipped symbol=SPY day=2026-11-17" in second.stdout
    assert "partial=0 no_data=0" in second.stdout
    assert len(list((tmp_path / "hist/bars").rglob("*.csv.gz"))) == 6
    assert gateway.pacing_violations() == 0
