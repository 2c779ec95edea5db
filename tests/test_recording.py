"""Recording: the bot writes the market data it receives in the replay format, and a killed
process leaves files that stay readable (issue 16).

Pure parts first (the rows, the gzip members, the writer's de-duplication), then the actor's
bounded mailbox, then whole bot runs against the embedded simulator: the bars written equal,
text for text, the bars the simulated gateway serves.
"""

from __future__ import annotations

import gzip
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from actor_harness import Clock, Probe

from actors.recorder import BoundedInbox, RecorderActor
from bot import messages as m
from bot.app.config import Settings
from bot.app.routing import Directory
from bot.data import record_format as rf
from bot.data.gzip_members import append_member, read_members, repair_tail
from bot.data.recorder import DiskWriter, RowBuffer

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 20, 14, 31, tzinfo=UTC)
SPY_CALL = m.OptionContract("SPY", "20261120", 600.0, m.Right.CALL)


def bar(minute: int, close: float = 600.25, symbol: str = "SPY", day: datetime = T0) -> m.Bar:
    return m.Bar(symbol, day + timedelta(minutes=minute), 600.0, 600.5, 599.75, close, 1200.0)


# -- the rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (600.0, "600"), (600.25, "600.25"), (0.1 + 0.2, "0.30000000000000004"), (1200.0, "1200"),
    (1.05, "1.05"), (-0.05, "-0.05"), (123456.789, "123456.789"),
])
def test_a_price_is_written_as_the_shortest_text_that_reads_back_as_the_same_float(value, text):
    assert rf.decimal_text(value) == text
    assert float(rf.decimal_text(value)) == value


def test_a_bar_row_is_its_utc_start_and_prices_and_reads_back_equal():
    row = rf.bar_row(bar(0))

    assert row == "2026-11-20T14:31:00Z,600,600.5,599.75,600.25,1200"
    assert rf.bar_from_row("SPY", row) == bar(0)


@pytest.mark.parametrize(("ts", "day"), [
    (datetime(2026, 11, 21, 4, 30, tzinfo=UTC), date(2026, 11, 20)),  # 23:30 New York
    (datetime(2026, 11, 20, 14, 30, tzinfo=UTC), date(2026, 11, 20)),
    (datetime(2026, 7, 2, 3, 59, tzinfo=UTC), date(2026, 7, 1)),  # summer time: UTC-4
])
def test_the_session_day_is_the_new_york_date(ts, day):
    assert rf.session_day(ts) == day


def test_an_option_record_holds_every_field_and_null_for_what_is_unknown():
    quote = m.Quote(SPY_CALL, 2.1, 0.0, 2.12, T0, 10.0, 0.0, delta=0.45, iv=0.21, gamma=0.02,
                    und_price=600.5)

    record = rf.option_record(quote, T0)

    assert record == {"ts": "2026-11-20T14:31:00Z", "expiry": "20261120", "strike": 600.0,
                      "right": "C", "bid": 2.1, "ask": None, "last": 2.12, "bid_size": 10.0,
                      "ask_size": 0.0, "iv": 0.21, "delta": 0.45, "gamma": 0.02, "theta": None,
                      "vega": None, "und_price": 600.5}
    assert tuple(record) == rf.OPTION_KEYS


# -- gzip members -----------------------------------------------------------------------------


def test_members_appended_one_per_flush_read_as_one_stream(tmp_path):
    path = tmp_path / "f.csv.gz"

    append_member(path, "a\n")
    append_member(path, "b\n")

    assert gzip.decompress(path.read_bytes()) == b"a\nb\n"
    with gzip.open(path, "rt") as f:
        assert f.read() == "a\nb\n"


def test_a_member_cut_short_by_a_kill_is_cut_off_and_the_file_stays_readable(tmp_path):
    # Arrange: two complete members and half of a third (SIGKILL in mid-write)
    path = tmp_path / "f.csv.gz"
    append_member(path, "a\n")
    append_member(path, "b\n")
    whole = path.stat().st_size
    with path.open("ab") as f:
        f.write(gzip.compress(b"c\n" * 100)[:15])

    # Act / Assert: the complete rows are there; repairing cuts exactly the half member
    assert read_members(path) == b"a\nb\n"
    assert repair_tail(path) == 15 and path.stat().st_size == whole
    append_member(path, "d\n")
    assert gzip.decompress(path.read_bytes()) == b"a\nb\nd\n"


# -- the writer -------------------------------------------------------------------------------


def bars_text(root: Path, day: str = "2026-11-20", symbol: str = "SPY") -> list[str]:
    return gzip.decompress((root / "bars" / symbol / f"{day}.csv.gz").read_bytes()).decode().splitlines()


def write(buffer: RowBuffer, disk: DiskWriter) -> list:
    return disk.write(buffer.take())


def test_bars_are_written_once_each_in_order_with_one_header(tmp_path):
    buffer, disk = RowBuffer(tmp_path, 100), DiskWriter()

    assert [buffer.add_bar(bar(i)) for i in (0, 1)] == [True, True]
    write(buffer, disk)
    assert [buffer.add_bar(bar(i)) for i in (0, 1, 2)] == [False, False, True]  # backfill again
    write(buffer, disk)

    assert bars_text(tmp_path) == [rf.BAR_HEADER_LINE, *(rf.bar_row(bar(i)) for i in range(3))]
    assert buffer.duplicate_bars == 2


def test_a_later_run_continues_the_days_file_after_its_last_bar(tmp_path):
    first = RowBuffer(tmp_path, 100)
    for i in range(3):
        first.add_bar(bar(i))
    write(first, DiskWriter())

    second, disk = RowBuffer(tmp_path, 100), DiskWriter()  # the next process: its backfill
    for i in range(5):
        second.add_bar(bar(i))
    write(second, disk)

    assert bars_text(tmp_path) == [rf.BAR_HEADER_LINE, *(rf.bar_row(bar(i)) for i in range(5))]
    assert disk.counts == {"rows": 2, "duplicate_bars": 3, "cut_bytes": 0}


def test_beyond_its_limit_the_buffer_drops_rows_and_counts_them(tmp_path):
    buffer = RowBuffer(tmp_path, 2)

    added = [buffer.add_bar(bar(i)) for i in range(4)]
    buffer.take()

    assert added == [True, True, False, False]
    assert (buffer.dropped, buffer.buffered) == (2, 0)
    assert buffer.add_bar(bar(2))  # the dropped minute can come again (not marked as seen)


def test_quotes_go_to_their_kind_and_session_day_and_a_chain_is_written_when_it_changes(tmp_path):
    buffer, disk = RowBuffer(tmp_path, 100), DiskWriter()
    buffer.add_quote(m.Quote(SPY_CALL, 2.1, 2.15, 2.12, T0), T0)
    buffer.add_quote(m.Quote(m.Stock("SPY"), 600.0, 600.01, 600.0, T0, 300, 200, 5e6), T0)
    chain = m.OptionChain("SPY", ("20261127", "20261120"), (605.0, 600.0))
    buffer.add_chain(chain, date(2026, 11, 20))
    write(buffer, disk)
    buffer.add_chain(chain, date(2026, 11, 20))

    options = gzip.decompress((tmp_path / "options/SPY/2026-11-20.jsonl.gz").read_bytes())
    quotes = gzip.decompress((tmp_path / "quotes/SPY/2026-11-20.jsonl.gz").read_bytes())
    assert json.loads(options)["bid"] == 2.1 and json.loads(options)["right"] == "C"
    assert json.loads(quotes) == {"ts": "2026-11-20T14:31:00Z", "bid": 600.0, "ask": 600.01,
                                  "last": 600.0, "bid_size": 300, "ask_size": 200, "volume": 5e6}
    assert json.loads((tmp_path / "chains/SPY/2026-11-20.json").read_text()) == {
        "expiries": ["20261120", "20261127"], "strikes": [600.0, 605.0]}
    assert not buffer.take()  # unchanged: not written again


def test_a_file_that_cannot_be_written_is_reported_and_its_rows_not_kept(tmp_path):
    (tmp_path / "bars").write_text("a file where a directory belongs")
    buffer = RowBuffer(tmp_path, 100)
    buffer.add_bar(bar(0))

    failures = write(buffer, DiskWriter())

    assert [path.name for path, _ in failures] == ["2026-11-20.csv.gz"]
    assert buffer.buffered == 0


# -- the actor --------------------------------------------------------------------------------


def envelope(message) -> SimpleNamespace:
    return SimpleNamespace(message=message)


def test_a_full_mailbox_drops_market_data_and_counts_but_never_a_ping_or_a_stop():
    inbox = BoundedInbox(limit=2)
    for i in range(5):
        inbox.put(envelope(m.BarClosed(bar(i))))
    inbox.put(envelope(m.Ping("p", None, 0.0)))
    inbox.put(envelope("stop"))

    assert (inbox.qsize(), inbox.dropped) == (4, 3)


def record_settings(tmp_path: Path, **record) -> Settings:
    return Settings.model_validate({"record": {"enabled": True, "dir": str(tmp_path), **record}})


WAIT_S = 5.0
WALL = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
"""The host's clock in the actor tests: not the simulated market's time."""


def test_the_actor_writes_what_it_was_told_when_it_stops_and_reports_its_figures(tmp_path):
    # Arrange: a simulator at speed 60 (the default); two backfill bars, one live
    probe = Probe()
    ref = RecorderActor.start(Directory(), record_settings(tmp_path, queue_size=50), clock=Clock(WALL),
                              tick_s=0)
    for i in range(3):
        ref.tell(m.BarClosed(bar(i), backfill=i < 2))
    # an option quote received one wall second after the live bar: one simulated minute later
    ref.tell(m.QuoteUpdated(m.Quote(SPY_CALL, 2.1, 2.15, 2.12, WALL + timedelta(seconds=1)), 1))

    # Act
    ref.tell(m.Ping("c", 0.0, probe))
    pong = probe.expect(m.Pong)
    ref.stop()

    # Assert
    stats = dict(pong.stats)
    assert (stats["record_dropped"], stats["record_buffered"], stats["record_rows"]) == (0, 4, 0)
    assert bars_text(tmp_path) == [rf.BAR_HEADER_LINE, *(rf.bar_row(bar(i)) for i in range(3))]
    option = json.loads(gzip.decompress((tmp_path / "options/SPY/2026-11-20.jsonl.gz").read_bytes()))
    assert option["ts"] == "2026-11-20T14:35:00Z"  # the live bar's end (14:34) + 1 s x 60


def test_a_quote_of_an_option_kept_warm_is_recorded_like_any_option_quote(tmp_path):
    # Arrange: a live bar, then the quote of an option a strategy keeps warm (prewarm)
    probe = Probe()
    ref = RecorderActor.start(Directory(), record_settings(tmp_path), clock=Clock(WALL), tick_s=0)
    ref.tell(m.BarClosed(bar(0), backfill=False))
    ref.tell(m.WarmQuoteUpdated(m.Quote(SPY_CALL, 2.1, 2.15, 2.12, WALL + timedelta(seconds=1)), 3))

    # Act
    ref.tell(m.Ping("c", 0.0, probe))
    probe.expect(m.Pong)
    ref.stop()

    # Assert
    option = json.loads(gzip.decompress((tmp_path / "options/SPY/2026-11-20.jsonl.gz").read_bytes()))
    assert (option["bid"], option["ask"], option["right"]) == (2.1, 2.15, "C")


def test_before_the_first_live_bar_a_simulators_quote_has_no_market_time_and_is_not_written(
        tmp_path):
    ref = RecorderActor.start(Directory(), record_settings(tmp_path), clock=Clock(WALL), tick_s=0)
    ref.tell(m.BarClosed(bar(0), backfill=True))
    ref.tell(m.QuoteUpdated(m.Quote(m.Stock("SPY"), 600.0, 600.01, 600.0, WALL), 1))
    probe = Probe()

    ref.tell(m.Ping("c", 0.0, probe))
    stats = dict(probe.expect(m.Pong).stats)
    ref.stop()

    assert stats["record_unclocked"] == 1
    assert not (tmp_path / "quotes").exists()


def test_the_first_live_bar_of_a_new_day_writes_the_days_before_at_once(tmp_path):
    # Arrange: no timer flushes (tick_s=0): only the day roll or the stop can write
    ref = RecorderActor.start(Directory(), record_settings(tmp_path), clock=Clock(WALL), tick_s=0)
    thursday = datetime(2026, 11, 19, 20, 58, tzinfo=UTC)
    ref.tell(m.BarClosed(bar(0, day=thursday)))
    ref.tell(m.BarClosed(bar(1, day=thursday)))

    # Act: Friday's first live bar
    ref.tell(m.BarClosed(bar(0, day=datetime(2026, 11, 20, 14, 30, tzinfo=UTC))))
    assert ref.proxy().wait_batches(1, WAIT_S).get(timeout=WAIT_S + 1)

    # Assert: Thursday is on disk while the bot still runs
    try:
        assert timestamps(bars_text(tmp_path, "2026-11-19")) == ["2026-11-19T20:58:00Z",
                                                                 "2026-11-19T20:59:00Z"]
    finally:
        ref.stop()


class StalledDisk(DiskWriter):
    """A disk whose first write hangs until released (an NFS mount gone, a dying SD card)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def write(self, batch):
        self.entered.set()
        self.release.wait(WAIT_S)
        return super().write(batch)


def test_a_stalled_disk_never_stalls_the_actor_it_answers_and_drops_beyond_its_buffer(tmp_path):
    # Arrange: the writer hangs in its first write
    disk = StalledDisk()
    ref = RecorderActor.start(Directory(), record_settings(tmp_path, queue_size=10),
                              clock=Clock(WALL), tick_s=0, disk=disk)
    ref.tell(m.BarClosed(bar(0), backfill=True))
    ref.tell(m.TimerFired("record", WALL))
    assert disk.entered.wait(WAIT_S)
    probe = Probe()

    # Act: 15 more bars while the disk hangs
    for i in range(1, 16):
        ref.tell(m.BarClosed(bar(i), backfill=True))
    ref.tell(m.Ping("c", 0.0, probe))
    stats = dict(probe.expect(m.Pong).stats)
    disk.release.set()
    ref.stop()

    # Assert: it answered at once, holding 10 rows and counting 5 dropped; all 11 got written
    assert (stats["record_buffered"], stats["record_dropped"]) == (10, 5)
    assert len(bars_text(tmp_path)) == 1 + 11


def test_a_disk_that_refuses_every_write_is_logged_once_and_counted_each_time(tmp_path):
    from loguru import logger

    records: list = []
    sink = logger.add(lambda msg: records.append(msg.record), level="ERROR")
    (tmp_path / "bars").write_text("a file where a directory belongs")
    ref = RecorderActor.start(Directory(), record_settings(tmp_path), clock=Clock(WALL), tick_s=0)
    probe = Probe()
    try:
        for i in range(3):
            ref.tell(m.BarClosed(bar(i), backfill=True))
            ref.tell(m.TimerFired("record", WALL))
            assert ref.proxy().wait_batches(i + 1, WAIT_S).get(timeout=WAIT_S + 1)
        ref.tell(m.Ping("c", 0.0, probe))
        stats = dict(probe.expect(m.Pong).stats)
    finally:
        ref.stop()
        logger.remove(sink)

    assert stats["record_failed"] == 3
    failed = [r["message"] for r in records if r["message"].startswith("record_write_failed")]
    assert len(failed) == 1 and "NotADirectoryError" in failed[0]


# -- whole runs against the embedded simulator --------------------------------------------------

SIM_START = "2026-11-20T10:00:00-05:00"
"""A Friday morning: the first subscription's backfill ("2 D") holds Thursday's whole session."""


def write_config(tmp_path: Path, flush_s: float = 1.0) -> Path:
    config = tmp_path / "settings.yaml"
    config.write_text(
        "symbols: [SPY]\n"
        f"broker: {{sim: {{seed: 7, speed: 60, start: '{SIM_START}'}}}}\n"
        "health: {heartbeat_seconds: 2}\n"
        f"record: {{enabled: true, dir: rec, flush_s: {flush_s}}}\n")
    return config


def bot_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot", "--config", str(config), *args]


BOT_ENV = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}


def served_rows(day: str, last: str) -> list[str]:
    """What the simulated gateway serves for SPY's 1-minute bars of ``day`` up to ``last``,
    written as its wire writes each field (the market model is seeded: same seed, same start,
    same bars)."""
    from bot.sim.market import Market
    from bot.sim.wire import format_field

    end = rf.parse_iso_utc(last) + timedelta(minutes=1)
    market = Market(("SPY",), 7, datetime.fromisoformat(SIM_START))
    market.advance(end)
    bars = market.bars("SPY", end, 3 * 86_400, 60)
    return [",".join([rf.iso_utc(b.time), *(format_field(float(v)) for v in
                                            (b.open, b.high, b.low, b.close, b.volume))])
            for b in bars if rf.session_day(b.time).isoformat() == day]


@pytest.mark.slow
def test_a_recorded_run_holds_exactly_the_bars_the_gateway_served(tmp_path):
    # Arrange / Act: about 10 simulated minutes of trading with recording on
    done = subprocess.run(bot_command(write_config(tmp_path), "--duration", "10"), cwd=tmp_path,
                          env=BOT_ENV, capture_output=True, text=True, timeout=90)

    # Assert: a clean stop, and per day every bar the gateway served, in order, text for text
    assert done.returncode == 0, done.stderr[-3000:]
    rec = tmp_path / "rec"
    thursday, friday = bars_text(rec, "2026-11-19"), bars_text(rec, "2026-11-20")
    assert thursday[0] == rf.BAR_HEADER_LINE and friday[0] == rf.BAR_HEADER_LINE
    assert thursday[1].startswith("2026-11-19T14:30:00Z,") and len(thursday) == 1 + 390
    assert friday[1].startswith("2026-11-20T14:30:00Z,") and len(friday) > 1 + 30  # live bars too
    assert thursday[1:] == served_rows("2026-11-19", thursday[-1].split(",")[0])
    assert friday[1:] == served_rows("2026-11-20", friday[-1].split(",")[0])
    # the live bars the strategy received (and logged) are the day's last rows, in order
    logged = re.findall(r" bar_closed close=(\S+) ", done.stderr)
    assert len(logged) > 3 and friday[-1] > "2026-11-20T15:00:00Z"
    assert [f"{float(row.split(',')[4]):.2f}" for row in friday[-len(logged):]] == logged
    chains = list((rec / "chains" / "SPY").glob("*.json"))
    quotes = gzip.decompress((rec / "quotes" / "SPY" / "2026-11-20.jsonl.gz").read_bytes())
    assert [p.name for p in chains] == ["2026-11-20.json"] and quotes.count(b"\n") > 10
    assert "record_dropped=0" in done.stderr


class RunningBot:
    """``python -m bot`` in the background; ``wait_for`` reads its log lines (bounded)."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.proc = subprocess.Popen(bot_command(config), cwd=tmp_path, env=BOT_ENV, text=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, count: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.seen) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                raise AssertionError(f"no {count} x {text!r} within {timeout}s: {self.seen[-20:]}")
            try:
                self.seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                continue

    def stop(self, sig: int, timeout: float = 30.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def timestamps(rows: list[str]) -> list[str]:
    return [row.split(",", 1)[0] for row in rows if row != rf.BAR_HEADER_LINE]


@pytest.mark.slow
def test_sigterm_writes_what_was_buffered_and_leaves_complete_gzip_files(tmp_path):
    # Arrange: nothing flushed by the timer (a minute), so every row comes from the stop
    bot = RunningBot(tmp_path, write_config(tmp_path, flush_s=60))
    bot.wait_for(" bar_closed ", count=2)

    # Act
    code = bot.stop(signal.SIGTERM)

    # Assert: exit 0, and the whole files read with the standard gzip reader
    assert code == 0
    friday = bars_text(tmp_path / "rec", "2026-11-20")
    assert len(friday) > 1 + 30 and friday.count(rf.BAR_HEADER_LINE) == 1
    for path in (tmp_path / "rec").rglob("*.gz"):
        gzip.decompress(path.read_bytes())


@pytest.mark.slow
def test_after_sigkill_the_rows_flushed_survive_and_the_next_run_continues_the_files(tmp_path):
    # Arrange: flushes every 0.2 s; killed once a few live bars were written
    config = write_config(tmp_path, flush_s=0.2)
    bot = RunningBot(tmp_path, config)
    bot.wait_for(" bar_closed ", count=3)
    bars_file = tmp_path / "rec" / "bars" / "SPY" / "2026-11-20.csv.gz"

    # Act: SIGKILL (no stop handler runs), then the next run on the same directory
    assert bot.stop(signal.SIGKILL) == -signal.SIGKILL
    survived = timestamps(read_members(bars_file).decode().splitlines())
    again = subprocess.run(bot_command(config, "--duration", "4"), cwd=tmp_path, env=BOT_ENV,
                           capture_output=True, text=True, timeout=60)

    # Assert: the flushed rows survived the kill; after the next run every file is one valid
    # gzip stream whose bars are each minute once, in order, starting with the survivors
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(survived) > 30
    rows = timestamps(gzip.decompress(bars_file.read_bytes()).decode().splitlines())
    assert rows[: len(survived)] == survived and rows == sorted(set(rows))
    for path in (tmp_path / "rec").rglob("*.gz"):
        gzip.decompress(path.read_bytes())


@pytest.mark.slow
def test_a_trading_run_records_the_option_quotes_it_saw_with_greeks_on_the_sessions_clock(
        tmp_path):
    # Arrange: the shipped settings (they trade within seconds of the open), recording on
    env = {**BOT_ENV, "BOT__RECORD__ENABLED": "true", "BOT__RECORD__DIR": "rec",
           "BOT__RECORD__FLUSH_S": "1", "BOT__BROKER__SIM__START": "2026-11-20T09:30:00-05:00"}

    # Act
    done = subprocess.run(bot_command(ROOT / "configs" / "settings.yaml", "--duration", "15"),
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)

    # Assert: every option quote whole, within the session, of a listed expiry and strike
    assert done.returncode == 0, done.stderr[-3000:]
    assert " bracket_submitted " in done.stderr
    files = sorted((tmp_path / "rec" / "options").rglob("2026-11-20.jsonl.gz"))
    assert files
    for path in files:
        chain = json.loads((tmp_path / "rec/chains" / path.parent.name / "2026-11-20.json").read_text())
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            record = json.loads(line)
            assert tuple(record) == rf.OPTION_KEYS and record["right"] in ("C", "P")
            assert "2026-11-20T14:30:00Z" <= record["ts"] < "2026-11-20T15:30:00Z"
            assert record["expiry"] in chain["expiries"] and record["strike"] in chain["strikes"]
            assert record["bid"] > 0 and record["ask"] >= record["bid"]
            assert None not in (record["delta"], record["gamma"], record["theta"],
                                record["vega"], record["iv"], record["und_price"])
