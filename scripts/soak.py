"""Soak test: run the complete bot for hours of simulated time and judge whether it holds up.

    python scripts/soak.py --sim-hours 6 --speed 60 --symbols 8 [--out DIR]
    python scripts/soak.py --gateway 127.0.0.1:4002 --sim-hours 1 --speed 60   # a running gateway

Starts ``python -m bot`` as a subprocess with a config written to the output directory (the
embedded simulated gateway at ``--speed``, or ``broker.kind: ib`` with ``dry_run`` against
``--gateway``), samples the bot process with psutil every second (RSS, USS, CPU, threads, fds),
then reads the bot's JSON log (heartbeats, ERROR lines, the simulator's counters) and writes
``report.json``, ``report.md`` and ``rss_cpu.png`` (when matplotlib is installed: ``pip install
-e '.[soak]'``) into ``logs/soak/<timestamp>/``. The verdict and its thresholds are in
``bot/ops/soak_report.py``. Exit code 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.ops.proc_sample import ProcessSampler  # noqa: E402
from bot.ops.soak_report import Run, build_report, markdown, summarize_log  # noqa: E402

SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "GOOGL", "AMD",
           "DIA")
"""Liquid names the simulator knows, in the order they are added."""
SAMPLE_S = 1.0
STOP_GRACE_S = 60.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim-hours", type=float, default=6.0, help="simulated hours to run")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second")
    p.add_argument("--symbols", type=int, default=8, metavar="N",
                   choices=range(1, len(SYMBOLS) + 1), help=f"1..{len(SYMBOLS)}")
    p.add_argument("--out", type=Path, default=None, help="default logs/soak/<timestamp>")
    p.add_argument("--gateway", default=None, metavar="HOST:PORT", help="use a running gateway")
    p.add_argument("--heartbeat-s", type=float, default=5.0, help="the bot's heartbeat period")
    p.add_argument("--warmup-sim-hours", type=float, default=None,
                   help="excluded from the RSS slope (default: a tenth of the run, at most 0.5)")
    return p.parse_args(argv)


def bot_config(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The settings the bot runs with: only what the soak needs differs from the defaults."""
    broker: dict[str, Any] = {"kind": "sim", "port": 0, "sim": {"speed": args.speed}}
    if args.gateway:
        host, _, port = args.gateway.rpartition(":")
        broker = {"kind": "ib", "host": host, "port": int(port)}
    return {
        "schema_version": 1,
        "dry_run": True,
        "symbols": list(SYMBOLS[: args.symbols]),
        "broker": broker,
        "health": {"heartbeat_seconds": args.heartbeat_s},
        "risk": {"kill_switch_path": str(out / "KILL")},
        "journal": {"dir": str(out / "data")},  # a fresh journal: no state from earlier runs
        "logging": {"dir": str(out / "logs"), "rotation": "200 MB", "level": "INFO"},
    }


def sample_until_exit(proc: subprocess.Popen, wall_s: float) -> list[dict[str, Any]]:
    """One psutil sample a second until the bot exits; SIGTERM, then SIGKILL, if it overruns."""
    sampler = ProcessSampler(proc.pid)
    start = time.monotonic()
    deadline = start + wall_s + STOP_GRACE_S
    samples: list[dict[str, Any]] = []
    while proc.poll() is None:
        now = time.monotonic()
        if now > deadline:
            print(f"soak: bot still running {STOP_GRACE_S:g} s after its duration; stopping it")
            _stop(proc)
            break
        try:
            figures = sampler.sample()
            samples.append({"t": round(now - start, 2), "ts": round(time.time(), 3), **figures})
        except psutil.Error:
            break  # it exited between poll() and the sample
        next_at = start + SAMPLE_S * len(samples)
        try:
            proc.wait(timeout=max(0.0, next_at - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    proc.wait()
    return samples


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def read_log(log_dir: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted(log_dir.glob("bot*.jsonl"), key=lambda p: p.stat().st_mtime):
        lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    return lines


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return (f"{psutil.cpu_count()} vCPU {platform.machine()}, {mem:.1f} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


NO_MATPLOTLIB = ("soak: no chart (rss_cpu.png): matplotlib is not installed; install it with "
                 "`pip install -e '.[soak]'` (or `pip install matplotlib`) and run the soak again")


def chart(samples: list[dict[str, Any]], speed: float, path: Path) -> bool:
    """RSS and CPU over simulated hours as a PNG; False, saying so and how to install it on
    stderr, when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(NO_MATPLOTLIB, file=sys.stderr)
        return False
    hours = [s["t"] * speed / 3600 for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5))
    top.plot(hours, [s["rss_mib"] for s in samples], label="RSS")
    top.plot(hours, [s["uss_mib"] for s in samples], label="USS")
    top.set_ylabel("MiB")
    top.legend(loc="lower right")
    bottom.plot(hours, [s["cpu_pct"] for s in samples], color="tab:red", linewidth=0.7)
    bottom.set_ylabel("CPU % of one core")
    bottom.set_xlabel("simulated hours")
    fig.suptitle("bot process during the soak")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = (args.out or REPO / "logs" / "soak" / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = out / "config.yaml"
    config.write_text(yaml.safe_dump(bot_config(args, out), sort_keys=False), encoding="utf-8")
    wall_s = args.sim_hours * 3600 / args.speed
    warmup = args.warmup_sim_hours
    warmup = min(0.5, args.sim_hours / 10) if warmup is None else warmup
    print(f"soak: {args.sim_hours:g} simulated hours at {args.speed:g}x = {wall_s:.0f} s wall, "
          f"{args.symbols} symbols; output in {out}")

    with open(out / "bot.out", "w", encoding="utf-8") as console:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "--duration",
                                 f"{wall_s:g}"], cwd=REPO, stdout=console, stderr=subprocess.STDOUT)
        samples = sample_until_exit(proc, wall_s)
    lines = "".join(json.dumps(s) + "\n" for s in samples)
    (out / "samples.jsonl").write_text(lines, encoding="utf-8")

    tracebacks = (out / "bot.out").read_text(encoding="utf-8", errors="replace").count("Traceback")
    run = Run(sim_hours=args.sim_hours, speed=args.speed, symbols=args.symbols,
              warmup_sim_hours=warmup, exit_code=proc.returncode, wall_s=round(wall_s, 1),
              target=f"gateway {args.gateway}" if args.gateway else "embedded simulator",
              machine=machine(), stderr_tracebacks=tracebacks)
    report = build_report(run, samples, summarize_log(read_log(out / "logs")))
    drawn = chart(samples, args.speed, out / "rss_cpu.png")
    report["chart"] = "rss_cpu.png" if drawn else f"none: {NO_MATPLOTLIB.removeprefix('soak: ')}"
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    print(f"soak: {report['verdict']}; report in {out / 'report.md'}")
    return 0 if report["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
