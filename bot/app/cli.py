"""Command line: ``python -m bot [run] | check-config | status | kill | gateway``.

    python -m bot [run] [--config PATH] [--duration SECONDS] [--live]
        Run the bot (default: the embedded simulated gateway, dry-run settings).
    python -m bot check-config [--config PATH]
        Validate the configuration and print the effective settings (exit 2 if invalid, or
        when ``broker.client`` names an IB client library that is not installed).
    python -m bot status [--json] [--mode MODE] [--config PATH]
        Where the bot stands: positions, working orders, today's P&L and loss budget, limits
        hit, kill switch, broker state, restart mismatches, heartbeat age (read-only).
    python -m bot kill [--reason TEXT] [--wait S] | kill --clear [--config PATH]
        Engage the kill switch of the bot that runs on this configuration's journal directory
        (found through its lock file, so the file is written where THAT bot watches) and wait
        for its next heartbeat to confirm; or clear it on purpose. SIGUSR1 to the bot does the
        same. Exit 1 when no running bot confirmed it (the file is written all the same).
    python -m bot alert-test [--config PATH]
        Send one test message to every alert target (``alerts.urls``) and print the result per
        target (exit 1 if any failed).
    python -m bot gateway [--port 4002] [--seed N] [--speed X] [--replay DIR] ...
        Run the simulated IB Gateway alone (see ``bot/sim/cli.py``).
    python -m bot backtest --data DIR [--from D] [--to D] [--speed max] [--config F] [--out DIR]
        Run the bot over recorded or imported data in lock step with the simulated gateway and
        write a report (see ``bot/backtest/``).
    python -m bot fetch-history [--symbols SPY,QQQ] [--days 30] [--out DIR] [--config F]
    python -m bot import-csv FILE --symbol SPY [--out DIR] [--tz America/New_York]
        Market data for replay and backtests (see ``bot/app/data_cli.py``).

The settings file: ``--config``, else the environment variable ``BOT_CONFIG``, else
``./configs/settings.yaml`` (defaults when that does not exist); run and status print which.

Exit codes: 0 clean stop, 1 failure (or: kill not confirmed), 2 invalid configuration or
arguments, 3 refused (the safety gate, another bot already on the journal directory, an
unusable journal or logs directory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.app.config import DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings, redacted
from bot.app.exit_codes import EXIT_CONFIG
from bot.ib import client

COMMANDS = ("run", "check-config", "status", "kill", "alert-test", "gateway", "backtest")
CONFIG_ENV = "BOT_CONFIG"


def _parser() -> argparse.ArgumentParser:
    """One sub-command each, with only the flags that apply to it (the rest are refused)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=None,
                        help=f"YAML settings (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG_PATH})")
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="run the bot (the default command)")
    run.add_argument("--duration", type=float, default=None,
                     help="stop after this many wall seconds (default: run until Ctrl-C)")
    run.add_argument("--live", action="store_true",
                     help="allow a live (non-paper) account; never needed for sim or paper")
    sub.add_parser("check-config", parents=[common], help="validate and print the settings")
    status_p = sub.add_parser("status", parents=[common], help="where the bot stands")
    status_p.add_argument("--json", action="store_true", help="one JSON object")
    status_p.add_argument("--mode", choices=("sim", "shadow", "paper", "live"), default=None,
                          help="which journal (default: the one written last)")
    kill_p = sub.add_parser("kill", parents=[common], help="engage or clear the kill switch")
    kill_p.add_argument("--clear", action="store_true", help="remove the kill-switch file")
    kill_p.add_argument("--reason", default="manual", help="why (appended to the file)")
    kill_p.add_argument("--wait", type=float, default=None,
                        help="seconds to wait for the bot's heartbeat to confirm "
                             "(default: two heartbeat periods and 5 s)")
    sub.add_parser("alert-test", parents=[common],
                   help="send one test message to every alert target")
    from bot.backtest.command import add_arguments as backtest_arguments

    backtest_arguments(sub.add_parser("backtest", parents=[common],
                                      help="run the bot over recorded data and write a report"))
    return parser


def config_source(given: Path | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``$BOT_CONFIG``, else ``./configs/settings.yaml``."""
    if given is not None:
        return given
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH


def _describe_source(path: Path) -> str:
    """The effective settings file as printed at start and by ``status``."""
    if path == DEFAULT_CONFIG_PATH and not path.exists():
        return f"(defaults: no {path.absolute()})"
    return str(path.absolute())


def status(settings: Settings, as_json: bool, mode: str | None, config: str) -> int:
    """Print the status; exit 0, or 1 when there is no readable journal."""
    from datetime import UTC, datetime

    from bot.ops.status import collect, render

    summary = {"config": config, **collect(settings, datetime.now(UTC), mode)}
    print(json.dumps(summary, indent=1, default=str) if as_json else render(summary))
    return 1 if summary.get("problem") else 0


def kill(settings: Settings, clear: bool, reason: str, wait_s: float | None) -> int:
    """Write (or clear) the kill switch where the running bot watches; 0 once it confirmed."""
    from bot.ops.kill_command import engage_or_clear

    return engage_or_clear(settings, clear=clear, reason=reason, wait_s=wait_s, out=print)


def _alert_test(settings: Settings) -> int:
    """One test message to each alert target, one line per target; 1 if any failed."""
    from actors.alert import apprise_sender
    from bot.ops.alerts import Alert, scheme_of

    urls = settings.alerts.urls
    if not urls:
        print("no alert targets configured (alerts.urls or BOT__ALERTS__URLS)")
        return 1
    failed = 0
    for n, url in enumerate(urls, 1):
        try:
            ok = apprise_sender((url,))(Alert("test", "ibkr-options-bot test", "alerts reach you"))
        except ValueError:
            ok = False
        failed += not ok
        print(f"target {n} ({scheme_of(url)}): {'sent' if ok else 'FAILED'}")
    return 1 if failed else 0


def _load_or_exit(path: Path) -> Settings:
    """Valid settings, or a message naming every bad field and exit code 2."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _client_or_exit(settings: Settings) -> None:
    """Exit 2 with one clear line when ``broker.client`` names a library that is not installed
    (looked up, not imported: check-config stays fast)."""
    if not client.installed(settings.broker.client):
        print(f"error: {client.missing_message(settings.broker.client)}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["gateway"]:
        from bot.sim.cli import main as gateway_main

        return gateway_main(args_in[1:])
    if args_in[:1] in (["fetch-history"], ["import-csv"]):
        from bot.app import data_cli

        command = data_cli.fetch_history_main if args_in[0] == "fetch-history" else data_cli.import_csv_main
        return command(args_in[1:])
    if not args_in or args_in[0] not in COMMANDS:
        if args_in[:1] in (["-h"], ["--help"]):
            _parser().parse_args(args_in)
        args_in = ["run", *args_in]
    args = _parser().parse_args(args_in)
    source = config_source(args.config, os.environ)
    settings = _load_or_exit(source)
    if args.command in ("check-config", "run", "backtest"):
        _client_or_exit(settings)
    if args.command == "backtest":
        from bot.backtest.command import main as backtest_main

        return backtest_main(settings, args)
    if args.command == "check-config":
        print(json.dumps(redacted(settings), indent=2))
        print(f"configuration ok ({_describe_source(source)})", file=sys.stderr)
        return 0
    if args.command == "status":
        return status(settings, args.json, args.mode, _describe_source(source))
    if args.command == "kill":
        return kill(settings, args.clear, args.reason, args.wait)
    if args.command == "alert-test":
        return _alert_test(settings)
    from bot.app.runner import run_bot

    return run_bot(settings, duration_s=args.duration, live_opt_in=args.live,
                   config=_describe_source(source))
