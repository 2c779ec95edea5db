"""The AlertActor delivers through apprise from its own thread: a slow or failing alert service
never holds up the bot, the queue is bounded (oldest dropped, counted), failures are retried."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest
from alert_server import AlertInbox
from pure_helpers import RECOVERED_CONTRACT

from actors.alert import AlertActor
from bot import messages as m
from bot.app.cli import main as cli_main
from bot.app.config import AlertSettings
from bot.app.routing import Directory
from bot.ops.alerts import Alert

WALL = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
WAIT_S = 10


def opened(n: int = 1) -> m.PositionOpened:
    return m.PositionOpened("c", f"SPY-{n}", "SPY", RECOVERED_CONTRACT, n, 1.60, WALL)


def start(send=None, **settings) -> tuple:
    cfg = AlertSettings.model_validate({"urls": ["json://127.0.0.1:9/"], "min_interval_s": 0,
                                        **settings})
    ref = AlertActor.start(Directory(), cfg, clock=lambda: WALL, send=send, tick_s=None)
    return ref, ref.proxy()


def test_an_event_reaches_the_alert_service_as_apprise_json_and_stopping_says_so():
    with AlertInbox() as box:
        ref, _ = start(urls=[box.url])

        ref.tell(opened(3))
        entry = box.next(WAIT_S)
        ref.stop(timeout=WAIT_S)
        stopped = box.next(WAIT_S)

    assert entry["title"] == "Entry filled SPY"
    assert entry["message"] == f"bought 3 {RECOVERED_CONTRACT.key} @ 1.60"
    assert entry["type"] == "info"
    assert stopped["title"] == "Bot stopped"


def test_a_failing_service_is_retried_then_counted_and_the_next_alert_still_goes():
    attempts: list[str] = []
    second_sent = threading.Event()

    def send(alert: Alert) -> bool:
        attempts.append(alert.body)
        if alert.body.startswith("bought 2"):
            second_sent.set()
            return True
        return False

    ref, proxy = start(send, retries=2, retry_backoff_s=0.01)
    ref.tell(opened(1))
    ref.tell(opened(2))

    assert second_sent.wait(WAIT_S)
    stats = proxy.stats().get(timeout=WAIT_S)
    assert [a.split(" ")[1] for a in attempts] == ["1", "1", "1", "2"]  # 1 try + 2 retries
    assert (stats["alerts_failed"], stats["alerts_sent"]) == (1, 1)
    ref.stop(timeout=WAIT_S)


def test_a_stuck_service_never_holds_up_the_actor_and_the_oldest_alerts_are_dropped():
    entered, release = threading.Event(), threading.Event()

    def send(alert: Alert) -> bool:
        entered.set()
        release.wait(WAIT_S)
        return True

    ref, proxy = start(send, queue_size=3)
    ref.tell(opened(1))
    assert entered.wait(WAIT_S)  # the sender holds alert 1 and is stuck

    for n in range(2, 9):
        ref.tell(opened(n))
    stats = proxy.stats().get(timeout=2)  # the actor answers at once, the service still stuck

    assert (stats["alerts_queued"], stats["alerts_dropped"]) == (3, 4)
    release.set()
    ref.stop(timeout=WAIT_S)


def test_without_alert_targets_there_is_no_alert_actor_and_apprise_is_not_imported():
    code = ("import sys; from bot.app.config import Settings; "
            "from bot.app.supervisor import actor_specs; "
            "names = [s.name for s in actor_specs(Settings(), broker=lambda d: None)]; "
            "print(json.dumps(['alert' in names, 'apprise' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True,
                         text=True, timeout=60, check=True)

    assert json.loads(out.stdout) == [False, False]


def test_with_alert_targets_the_alert_actor_starts_before_the_broker():
    from bot.app.config import Settings
    from bot.app.supervisor import actor_specs

    settings = Settings.model_validate({"alerts": {"urls": ["json://127.0.0.1:9/"]}})
    names = [s.name for s in actor_specs(settings, broker=lambda d: None)]

    assert names[-2:] == ["alert", "broker"]


def test_alert_test_reports_each_target_and_fails_if_one_failed(tmp_path, capsys):
    with AlertInbox() as good, AlertInbox(status=500) as bad:
        config = tmp_path / "settings.yaml"
        config.write_text(f"alerts:\n  urls: ['{good.url}', '{bad.url}']\n", encoding="utf-8")

        code = cli_main(["alert-test", "--config", str(config)])
        delivered = good.next(WAIT_S)

    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines() == ["target 1 (json): sent", "target 2 (json): FAILED"]
    assert delivered["title"] == "ibkr-options-bot test"
    assert "127.0.0.1" not in out


@pytest.mark.parametrize("urls", ["tgram://123456:SECRET/987", "no-scheme-SECRET"])
def test_alert_urls_are_never_printed_by_check_config_or_its_errors(tmp_path, capsys, urls):
    config = tmp_path / "settings.yaml"
    config.write_text(f"alerts:\n  urls: ['{urls}']\n", encoding="utf-8")

    with pytest.raises(SystemExit) if "://" not in urls else contextlib.nullcontext():
        cli_main(["check-config", "--config", str(config)])

    captured = capsys.readouterr()
    assert "SECRET" not in captured.out + captured.err



@pytest.mark.slow
def test_a_default_simulator_run_delivers_start_fill_exit_and_stop_alerts(tmp_path):
    with AlertInbox() as box:
        config = tmp_path / "settings.yaml"
        config.write_text(
            f"alerts:\n  urls: ['{box.url}']\n  min_interval_s: 0\n"
            f"logging:\n  dir: {tmp_path / 'logs'}\njournal:\n  dir: {tmp_path / 'data'}\n"
            f"risk:\n  kill_switch_path: {tmp_path / 'KILL'}\n", encoding="utf-8")
        bot = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config),
                                "--duration", "120"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            started = box.until("Bot started", timeout=60)
            entry = box.until("Entry filled", timeout=60)
            exit_ = box.until(("Exit filled", "Stop hit"), timeout=90)
            bot.terminate()  # SIGTERM: a clean stop
            stopped = box.until("Bot stopped", timeout=30)
            assert bot.wait(timeout=30) == 0
        finally:
            bot.kill()

    assert started["message"].startswith("mode sim, account DU")
    assert entry["message"].startswith("bought ")
    assert "P&L" in exit_["message"]
    assert stopped["message"].startswith("the bot stopped; mode sim")
