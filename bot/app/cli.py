"""Command line: ``python -m bot [run] | check-config | status | kill | gateway``.

    python -m bot [--config PATH] [--duration SECONDS] [--live]
        Run the bot (default: the embedded simulated gateway, dry-run settings).
    python -m bot check-config [--config PATH]
        Validate the configuration and print the effective settings (exit 2 if invalid).
    python -m bot status [--json] [--mode MODE] [--config PATH]
        Where the bot stands: positions, working orders, today's P&L and loss budget, limits
        hit, kill switch, broker state, restart mismatches, heartbeat age (read-only).
    python -m bot kill [--reason TEXT] | kill --clear [--config PATH]
        Engage the kill switch (write its file; the running bot notices within a second and
        it holds across restarts) or clear it on purpose. SIGUSR1 to the bot does the same.
    python -m bot alert-test [--config PATH]
        Send one test message to every alert target (``alerts.urls``) and print the result per
        target (exit 1 if any failed).
    python -m bot gateway [--port 4002] [--seed N] [--speed X] ...
        Run the simulated IB Gateway alone (see ``bot/sim/cli.py``).

Exit codes: 0 clean stop, 1 failure, 2 invalid configuration, 3 refused by the safety gate.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.app.config import ConfigError, Settings, load_settings, redacted
from bot.app.supervisor import EXIT_CONFIG

COMMANDS = ("run", "check-config", "status", "kill", "alert-test", "gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=COMMANDS)
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML settings (default configs/settings.yaml)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many wall seconds (default: run until Ctrl-C)")
    parser.add_argument("--live", action="store_true",
                        help="allow a live (non-paper) account; never needed for sim or paper")
    parser.add_argument("--json", action="store_true", help="status: one JSON object")
    parser.add_argument("--mode", choices=("sim", "shadow", "paper", "live"), default=None,
                        help="status: which journal (default: the one written last)")
    parser.add_argument("--clear", action="store_true", help="kill: remove the kill-switch file")
    parser.add_argument("--reason", default="manual", help="kill: why (kept in the file)")
    return parser


def status(settings: Settings, as_json: bool, mode: str | None) -> int:
    """Print the status; exit 0, or 1 when there is no readable journal."""
    from datetime import UTC, datetime

    from bot.ops.status import collect, render

    summary = collect(settings, datetime.now(UTC), mode)
    print(json.dumps(summary, indent=1, default=str) if as_json else render(summary))
    return 1 if summary.get("problem") else 0


def kill(settings: Settings, clear: bool, reason: str) -> int:
    from bot.app.supervisor import write_kill_switch

    path = settings.risk.kill_switch_path
    if clear:
        existed = path.exists()
        path.unlink(missing_ok=True)
        print(f"kill switch cleared ({path})" if existed else f"kill switch was not engaged ({path})")
        return 0
    write_kill_switch(path, reason)
    print(f"kill switch engaged ({path}): no new entries until `python -m bot kill --clear`")
    return 0


def alert_test(settings: Settings) -> int:
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


def load_or_exit(path: Path | None) -> Settings:
    """Valid settings, or a message naming every bad field and exit code 2."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["gateway"]:
        from bot.sim.cli import main as gateway_main

        return gateway_main(args_in[1:])
    args = _parser().parse_args(args_in)
    settings = load_or_exit(args.config)
    if args.command == "check-config":
        print(json.dumps(redacted(settings), indent=2))
        print("configuration ok", file=sys.stderr)
        return 0
    if args.command == "status":
        return status(settings, args.json, args.mode)
    if args.command == "kill":
        return kill(settings, args.clear, args.reason)
    if args.command == "alert-test":
        return alert_test(settings)
    from bot.app.runner import run_bot

    return run_bot(settings, duration_s=args.duration, live_opt_in=args.live)
