"""``python -m bot import-csv``: a CSV of 1-minute bars into the replay format, split by session
day; bad rows reported by line and left out (issue 16)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.data.csv_import import parse_csv, parse_timestamp
from bot.data.record_format import BAR_HEADER_LINE

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
NY = ZoneInfo("America/New_York")
OPEN_UTC = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 09:30 New York


@pytest.mark.parametrize(("text", "tz", "expected"), [
    ("2026-11-20T14:30:00Z", NY, OPEN_UTC),
    ("2026-11-20T09:30:00-05:00", NY, OPEN_UTC),
    ("2026-11-20 09:30:00", NY, OPEN_UTC),  # naive: read in --tz
    ("2026-11-20T14:30:00", ZoneInfo("UTC"), OPEN_UTC),
    ("1795185000", NY, OPEN_UTC),  # epoch seconds
    ("1795185000.0", NY, OPEN_UTC),
])
def test_a_timestamp_may_carry_an_offset_be_naive_in_the_zone_given_or_be_epoch_seconds(
        text, tz, expected):
    assert parse_timestamp(text, tz) == expected


GOOD = [
    "2026-11-19T15:59:00-05:00,601.0,601.5,600.5,601.25,1000",  # Thursday's last minute
    "2026-11-20T09:30:00-05:00,600.50,601,600,600.75,1200",
    "1795185060,600.75,601,600.5,600.5,900",  # 09:31 as epoch seconds
]


@pytest.mark.parametrize(("row", "why"), [
    ("2026-13-01T09:30:00,1,1,1,1,1", "timestamp not understood"),
    ("2026-11-20T09:32:30-05:00,1,1,1,1,1", "not on a whole minute"),
    ("2026-11-20T09:33:00-05:00,1,abc,1,1,1", "high is not a number"),
    ("2026-11-20T09:34:00-05:00,0,1,0,1,1", "prices must be positive"),
    ("2026-11-20T09:35:00-05:00,1,1,1,1,-5", "volume must not be negative"),
    ("2026-11-20T09:36:00-05:00,1.5,1.2,1.0,1.1,10", "do not bound"),
    ("2026-11-20T09:37:00-05:00,1,1,1", "expected 6 fields"),
    ("2026-11-20T09:30:00-05:00,600.5,601,600,600.75,1200", "repeats the bar of line 3"),
    ("2026-11-20T09:38:00-05:00,nan,1,1,1,1", "open is not finite"),
])
def test_each_kind_of_bad_row_is_reported_with_its_line_and_left_out(row, why):
    lines = [BAR_HEADER_LINE, *GOOD, row]

    parsed = parse_csv(lines, "SPY", NY)

    assert len(parsed.problems) == 1
    line, text = parsed.problems[0]
    assert line == 5 and why in text
    assert parsed.bars == 3


def test_rows_are_split_by_the_new_york_date_and_hours_outside_the_session_are_left_out():
    lines = ["Volume,Close,Low,High,Open,Timestamp,extra",  # any order, any case, more columns
             "100,600,600,600,600,2026-11-20T08:00:00-05:00,x",  # pre-market
             "100,600,600,600,600,2026-11-21T10:00:00-05:00,x",  # a Saturday
             *(",".join([r.split(",")[5], r.split(",")[4], r.split(",")[3], r.split(",")[2],
                         r.split(",")[1], r.split(",")[0], "x"]) for r in GOOD)]

    parsed = parse_csv(lines, "SPY", NY)

    assert parsed.problems == [] and parsed.outside_hours == 2
    assert {d.isoformat(): len(b) for d, b in parsed.days.items()} == {"2026-11-19": 1, "2026-11-20": 2}


def run_import(tmp_path: Path, csv_text: str, *args: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "bars.csv"
    source.write_text(csv_text)
    return subprocess.run([sys.executable, "-m", "bot", "import-csv", str(source), "--symbol", "SPY",
                           "--out", str(tmp_path / "out"), *args],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=60)


def day_rows(tmp_path: Path, day: str) -> list[str]:
    return gzip.decompress((tmp_path / "out/bars/SPY" / f"{day}.csv.gz").read_bytes()).decode().splitlines()


def test_the_command_writes_the_good_rows_per_day_and_reports_the_bad_ones(tmp_path):
    csv_text = "\n".join([BAR_HEADER_LINE, GOOD[2], GOOD[1], "not,a,bar,at,all,x", GOOD[0]]) + "\n"

    done = run_import(tmp_path, csv_text)

    assert done.returncode == 0, done.stderr
    assert "bars.csv:4: timestamp not understood: 'not'" in done.stderr
    assert "import_done symbol=SPY bars=3 days=2 bad_rows=1 outside_regular_hours=0" in done.stdout
    assert day_rows(tmp_path, "2026-11-19") == [
        BAR_HEADER_LINE, "2026-11-19T20:59:00Z,601,601.5,600.5,601.25,1000"]
    assert day_rows(tmp_path, "2026-11-20") == [  # in time order; 600.50 written as 600.5
        BAR_HEADER_LINE, "2026-11-20T14:30:00Z,600.5,601,600,600.75,1200",
        "2026-11-20T14:31:00Z,600.75,601,600.5,600.5,900"]


def test_naive_timestamps_are_read_in_the_zone_given(tmp_path):
    csv_text = f"{BAR_HEADER_LINE}\n2026-11-20 14:30:00,600,600,600,600,1\n"

    done = run_import(tmp_path, csv_text, "--tz", "UTC")

    assert done.returncode == 0, done.stderr
    assert day_rows(tmp_path, "2026-11-20")[1].startswith("2026-11-20T14:30:00Z,")


@pytest.mark.parametrize(("csv_text", "message"), [
    (f"{BAR_HEADER_LINE}\nbad,1,1,1,1,1\n", "no valid bar"),
    ("time,open,high,low,close\n2026-11-20T09:30:00-05:00,1,1,1,1\n", "missing: timestamp,volume"),
    ("", "missing: timestamp"),
])
def test_nothing_valid_to_import_exits_2_and_writes_nothing(tmp_path, csv_text, message):
    done = run_import(tmp_path, csv_text)

    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()
