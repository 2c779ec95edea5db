"""The embedded simulator's historical pacing follows ``broker.sim.pacing`` (issue 13): 'ib'
(the default) treats bars above 30 seconds as IB does (an identical request within 15 s is
delayed, not refused), 'strict' refuses it with error 162 as IB does for small bars. The bot's
own tests run it strict (``tests/conftest.py``), so the bot stays inside both.

Each case starts the gateway exactly as ``python -m bot`` does (``bot.app.runner``) and asks it
twice for the same 1-minute bars with a real ib_insync client on 127.0.0.1.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest
from ib_insync import IB, Stock

from bot.app import runner
from bot.app.config import Settings, load_settings

PACING_VIOLATION = 162


def embedded_settings(tmp_path, pacing: str | None) -> Settings:
    sim = {"speed": 1, "start": "2026-11-18T10:00:00-05:00"}
    if pacing is not None:
        sim["pacing"] = pacing
    return Settings.model_validate({
        "broker": {"kind": "sim", "port": 0, "sim": sim},
        "journal": {"dir": str(tmp_path / "data")},
    })


def two_identical_bar_requests(port: int) -> tuple[int, list[int]]:
    """Bars of the second of two identical 1-minute requests, and the error codes seen for
    requests (not the farm notices, which carry id -1)."""
    ib = IB()
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, *rest: req_id > 0 and errors.append(code)
    try:
        ib.connect("127.0.0.1", port, clientId=5, timeout=5)
        spy = Stock("SPY", "SMART", "USD")
        ib.qualifyContracts(spy)
        ask = dict(endDateTime="", durationStr="1800 S", barSizeSetting="1 min",
                   whatToShow="TRADES", useRTH=True, timeout=10)
        assert ib.reqHistoricalData(spy, **ask)  # the first is answered either way
        second = ib.reqHistoricalData(spy, **ask)
        return len(second), errors
    finally:
        ib.disconnect()


@pytest.mark.parametrize("pacing, answered, codes", [
    (None, True, []),  # the default is IB's soft treatment of bars above 30 s
    ("ib", True, []),
    ("strict", False, [PACING_VIOLATION]),
])
def test_the_embedded_simulator_paces_history_as_broker_sim_pacing_says(
    tmp_path, pacing, answered, codes
) -> None:
    # Arrange
    settings = embedded_settings(tmp_path, pacing)
    with ExitStack() as stack:
        _, port = runner._start_gateway(settings, stack)
        # Act
        bars, errors = two_identical_bar_requests(port)
    # Assert
    assert (bars > 0, errors) == (answered, codes)


def test_the_tests_run_every_embedded_simulator_strict(tmp_path) -> None:
    # a `python -m bot` started by any test reads its settings with this environment
    assert os.environ.get("BOT__BROKER__SIM__PACING") == "strict"
    config = tmp_path / "settings.yaml"
    config.write_text("dry_run: true\n")
    assert load_settings(config).broker.sim.pacing == "strict"


def test_an_unknown_pacing_mode_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="pacing"):
        Settings.model_validate({"broker": {"sim": {"pacing": "loose"}}})
