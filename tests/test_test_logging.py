"""The test suite's own log sink: lines go to the test's captured stderr, never among the
progress dots (an actor of a finished test may log while pytest's capture is suspended)."""

from __future__ import annotations

import sys

from log_capture import to_captured_stderr


def test_a_line_logged_while_capture_is_suspended_is_dropped(capfd, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)  # what pytest restores between phases

    to_captured_stderr("12:00:00 INFO strategy_state from=holding to=idle\n")

    assert capfd.readouterr().err == ""


def test_a_line_logged_during_a_test_reaches_its_captured_stderr(capsys):
    to_captured_stderr("12:00:00 INFO bars_subscribed symbol=SPY\n")

    assert capsys.readouterr().err == "12:00:00 INFO bars_subscribed symbol=SPY\n"
