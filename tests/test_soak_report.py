"""The soak report's statistics, log reading and verdict (pure, synthetic runs, seeded noise)."""

from __future__ import annotations

import json
import random

import pytest

from bot.ops.soak_report import (
    LogSummary,
    Run,
    build_report,
    growth,
    markdown,
    percentile,
    slope,
    summarize_log,
)

SPEED = 60.0


def samples(seconds=360, rss=lambda h: 55.0, threads=lambda h: 14, fds=lambda h: 21, seed=7):
    """One sample per wall second at 60x; RSS gets seeded noise of 0.05 MiB."""
    rng = random.Random(seed)
    out = []
    for t in range(seconds):
        h = t * SPEED / 3600
        out.append({"t": float(t), "rss_mib": rss(h) + rng.gauss(0, 0.05), "uss_mib": rss(h) - 5,
                    "cpu_pct": 4.0 if t % 10 == 0 else 1.0, "threads": threads(h), "fds": fds(h)})
    return out


def run(**changes) -> Run:
    base = dict(sim_hours=6.0, speed=SPEED, symbols=8, warmup_sim_hours=0.5, exit_code=0,
                wall_s=360.0, target="embedded simulator", machine="test")
    return Run(**{**base, **changes})


def log(**changes) -> LogSummary:
    beats = [{"beat_lag_s": 0.002 * i, "errors": {"ib_2104": 1}} for i in range(72)]
    base = dict(heartbeats=beats,
                counters={"orders.placed": 30, "orders.executions": 20, "violation.msg_rate": 0})
    return LogSummary(**{**base, **changes})


# -- statistics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("values, q, expected", [
    (list(range(1, 101)), 50, 50.5),
    ([1, 2, 3, 4], 95, 3.85),
    ([7], 99, 7),
])
def test_percentile_interpolates_between_ranks(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None


def test_slope_is_the_least_squares_line():
    xs = [0.0, 1.0, 2.0, 3.0]

    assert slope(xs, [50.0, 50.5, 51.0, 51.5]) == pytest.approx(0.5)
    assert slope([2.0, 2.0], [1.0, 3.0]) is None


@pytest.mark.parametrize("values, expected", [
    ([14] * 20, 0), ([14] * 10 + [15] * 10, 1), ([21, 30, 21, 21, 21], 0), ([], None),
])
def test_growth_compares_the_last_tenth_with_the_first(values, expected):
    assert growth(values) == expected


# -- the log --------------------------------------------------------------------------------------


@pytest.mark.parametrize("library", ["ib_insync", "ib_async"])
def test_the_log_summary_reads_heartbeats_errors_counters_and_ib_codes(library):
    lines = [
        json.dumps({"level": "INFO", "msg": "heartbeat up=5s", "heartbeat": {"beat_lag_s": 0.01}}),
        # the client's own echo of an IB error the broker reports by code: not an error of ours
        json.dumps({"level": "ERROR", "actor": library, "msg": "Error 100, reqId -1: rate"}),
        json.dumps({"level": "WARNING", "actor": "broker", "msg": "broker_error code=100 x"}),
        json.dumps({"level": "WARNING", "actor": "health", "msg": "broker_error code=100 message"}),
        json.dumps({"level": "WARNING", "actor": "broker", "msg": "broker_error code=2104 x"}),
        json.dumps({"level": "ERROR", "msg": "alarm_raised actor=risk reason=x"}),
        json.dumps({"level": "INFO", "msg": "order_placed client_order_id=a"}),
        json.dumps({"level": "INFO", "msg": "order_shadowed client_order_id=b sent=no (dry run)"}),
        json.dumps({"level": "INFO", "msg": "PositionOpened intent=a"}),
        json.dumps({"level": "INFO", "msg": "gateway_stopped orders_placed=1",
                    "counters": {"orders.placed": 1}}),
        "not json at all",
    ]

    summary = summarize_log(lines)

    assert summary.heartbeats == [{"beat_lag_s": 0.01}]
    assert dict(summary.errors) == {"alarm_raised": 1}
    assert dict(summary.ib_errors) == {100: 1, 2104: 1}
    assert summary.counters == {"orders.placed": 1}
    assert (summary.orders_logged, summary.fills_logged) == (2, 1)  # a dry run's orders count


# -- the verdict ----------------------------------------------------------------------------------


def test_a_flat_run_passes_with_its_figures():
    report = build_report(run(), samples(), log())

    assert report["verdict"] == "PASS"
    assert abs(report["rss_mib"]["slope_per_sim_hour"]) < 0.05
    assert report["cpu_pct"] == {"mean": 1.3, "p95": 4.0, "max": 4.0}
    assert report["threads"]["start"] == 14 and report["threads"]["growth_after_warmup"] == 0
    assert report["heartbeats"] == {"count": 72, "lag_p99_s": 0.141, "lag_max_s": 0.142}
    assert report["orders"] == {"placed": 30, "fills": 20, "source": "simulator"}
    assert report["errors_by_kind"] == {"heartbeat:ib_2104": 1}
    assert report["run"]["samples"] == 360 and report["run"]["steady_samples"] == 330


def test_rss_is_listed_at_the_end_of_each_simulated_hour():
    report = build_report(run(), samples(rss=lambda h: 50.0 + 2 * h, seed=1), log())

    assert report["rss_mib"]["by_sim_hour"] == pytest.approx([52.0, 54.0, 56.0, 58.0, 60.0, 62.0],
                                                             abs=0.2)
    listed = ", ".join(f"{v:g}" for v in report["rss_mib"]["by_sim_hour"])
    assert f"RSS MiB at the end of each simulated hour: {listed}." in markdown(report)


def test_growth_during_the_warm_up_does_not_count():
    report = build_report(run(), samples(rss=lambda h: 40.0 + 30 * min(h, 0.5)), log())

    assert report["verdict"] == "PASS"
    assert report["rss_mib"]["start"] < 41 and report["rss_mib"]["peak"] > 54


@pytest.mark.parametrize("make_run, make_samples, make_log, failed", [
    (run, lambda: samples(rss=lambda h: 55 + 1.5 * h), log, "rss_slope_mib_per_sim_hour"),
    (run, lambda: samples(threads=lambda h: 14 + int(h)), log, "threads_growth"),
    (run, lambda: samples(fds=lambda h: 21 + 2 * int(h)), log, "fds_growth"),
    (run, samples, lambda: log(counters={"violation.hist_identical": 1}), "pacing_violations"),
    (run, samples, lambda: log(counters=None, ib_errors={420: 1}), "pacing_violations"),
    (run, samples, lambda: log(errors={"actor_failed": 1}), "unhandled_errors"),
    (lambda: run(stderr_tracebacks=1), samples, log, "unhandled_errors"),
    (lambda: run(exit_code=1), samples, log, "exit_code"),
    (run, samples, lambda: log(heartbeats=[]), "heartbeats"),
])
def test_each_threshold_fails_the_verdict_and_is_named(make_run, make_samples, make_log, failed):
    report = build_report(make_run(), make_samples(), make_log())

    assert report["verdict"] == "FAIL"
    assert [c["name"] for c in report["checks"] if not c["ok"]] == [failed]
    assert markdown(report).splitlines()[0] == f"# Soak FAIL: failed {failed}"


def test_the_markdown_starts_with_the_verdict_then_a_table_of_checks():
    report = build_report(run(), samples(), log())

    text = markdown(report)

    lines = text.splitlines()
    assert lines[0] == "# Soak PASS"
    assert "| pacing_violations | 0 | == 0 | yes |" in lines
    assert "| heartbeats | 72 | >= 1 | yes |" in lines
    assert "| orders / fills | | | 30 / 20 (simulator) |" in lines
    assert "peak RSS with 8 symbols" in text and "n/a for this run" in text  # CPU target: speed 1


def test_the_resource_targets_are_reported_for_8_symbols_at_real_time():
    report = build_report(run(speed=1.0, sim_hours=0.1, warmup_sim_hours=0.01,
                              target="gateway 127.0.0.1:4002"), samples(), log())

    rss_target, cpu_target = report["targets"]
    assert (rss_target["applies"], rss_target["met"]) == (True, True)
    assert (cpu_target["measured"], cpu_target["applies"], cpu_target["met"]) == (1.3, True, False)


def test_the_cpu_target_is_the_steady_load_after_the_start_up_warm_up():
    shaped = samples()
    for s in shaped:
        s["cpu_pct"] = 50.0 if s["t"] < 36 else 0.5  # the start-up backfill, then steady
    report = build_report(run(speed=1.0, sim_hours=0.1, warmup_sim_hours=0.01,
                              target="gateway 127.0.0.1:4002"), shaped, log())

    cpu_target = report["targets"][1]
    assert (cpu_target["measured"], cpu_target["met"]) == (0.5, True)
    assert report["cpu_pct"]["mean"] > 5  # the table still shows the whole run


def test_the_bot_rss_target_does_not_apply_when_the_simulator_shares_the_process():
    report = build_report(run(speed=1.0, sim_hours=0.1, warmup_sim_hours=0.01), samples(), log())

    rss_target, cpu_target = report["targets"]
    assert (rss_target["applies"], rss_target["met"]) == (False, False)
    assert cpu_target["applies"] is True


def test_only_samples_inside_the_running_window_count():
    lines = [json.dumps({"ts": "2026-11-21T10:00:01+00:00", "level": "INFO",
                         "msg": "system_started actors=health"}),
             json.dumps({"ts": "2026-11-21T10:05:58+00:00", "level": "INFO",
                         "msg": "stop_requested exit_code=0 why=duration"})]
    window = summarize_log(lines).running
    start = window[0]
    shaped = samples()
    for s in shaped:
        s["ts"] = start - 1 + s["t"]
    shaped[0]["rss_mib"], shaped[-1]["threads"] = 0.2, 2  # process start-up and shutdown

    report = build_report(run(), shaped, log(running=window))

    assert window == (start, start + 357)
    assert report["run"]["samples"] == 358  # t = 1 .. 358 of 0 .. 359
    assert report["rss_mib"]["start"] > 54 and report["threads"]["end"] == 14


@pytest.mark.parametrize("argv, kind, host, port", [
    (["--symbols", "8", "--speed", "60"], "sim", "127.0.0.1", 0),
    (["--symbols", "3", "--gateway", "10.0.0.5:4002"], "ib", "10.0.0.5", 4002),
])
def test_the_soak_writes_a_config_the_bot_accepts(tmp_path, argv, kind, host, port):
    import importlib.util
    from pathlib import Path

    from bot.app.config import Settings

    path = Path(__file__).resolve().parent.parent / "scripts" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak_script", path)
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)

    settings = Settings.model_validate(soak.bot_config(soak.parse_args(argv), tmp_path))

    assert tuple(settings.symbols) == soak.SYMBOLS[: int(argv[1])]
    assert (settings.broker.kind, settings.broker.host, settings.broker.port) == (kind, host, port)
    assert settings.dry_run is True and settings.logging.dir == tmp_path / "logs"
    assert settings.journal.dir == tmp_path / "data"


def test_the_soak_says_when_matplotlib_is_missing_and_how_to_install_it(tmp_path, monkeypatch,
                                                                         capsys):
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "soak_script", Path(__file__).resolve().parent.parent / "scripts" / "soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError

    drawn = soak.chart([{"t": 0.0, "rss_mib": 40.0, "uss_mib": 35.0, "cpu_pct": 1.0}], 60.0,
                       tmp_path / "rss_cpu.png")

    assert drawn is False and not (tmp_path / "rss_cpu.png").exists()
    err = capsys.readouterr().err
    assert "matplotlib is not installed" in err and "pip install -e '.[soak]'" in err
