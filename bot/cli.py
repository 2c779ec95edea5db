"""Command line: ``python -m bot [run] | check-config | gateway``.

    python -m bot [--config PATH] [--duration SECONDS] [--live]
        Run the bot (default: the embedded simulated gateway, dry-run settings).
    python -m bot check-config [--config PATH]
        Validate the configuration and print the effective settings (exit 2 if invalid).
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

from bot.app import EXIT_CONFIG
from bot.config import ConfigError, Settings, load_settings, redacted

COMMANDS = ("run", "check-config", "gateway")


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
    return parser


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
    from bot.runner import run_bot

    return run_bot(settings, duration_s=args.duration, live_opt_in=args.live)
