"""The market data commands: ``python -m bot fetch-history`` and ``python -m bot import-csv``.

    python -m bot fetch-history [--symbols SPY,QQQ] [--days 30] [--out DIR] [--config F]
                                [--client-id N]
        Pull the 1-minute bars of the last N closed sessions from the configured gateway
        (``broker.kind: sim``: an embedded simulator, as ``run`` starts) within IB's pacing
        rules; days already complete on disk are skipped, so an interrupted run resumes.
    python -m bot import-csv FILE --symbol SPY [--out DIR] [--tz America/New_York]
        Convert a CSV of 1-minute bars (``timestamp,open,high,low,close,volume``) into the same
        files, one per session day; bad rows are reported by line and left out.

Both write ``bars/<SYMBOL>/<YYYY-MM-DD>.csv.gz`` under ``--out`` (default ``record.dir``), the
format replay reads (``bot/data/record_format.py``). Exit codes: 0 done, 1 the gateway could
not be reached, 2 bad arguments or settings (import-csv: no valid row).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from bot.app.config import ConfigError, Settings, load_settings
from bot.app.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK

LEDGER_FILE = "history-pacing.json"
"""In ``journal.dir``: fetch-history's requests of the last 10 minutes, for the next run's
pacing (``bot/ib/history.py``)."""
CLIENT_ID_OFFSET = 100
"""fetch-history's client id is ``broker.client_id`` + this, so it never takes the running
bot's id (nor the ones the bot moves on to after error 326)."""


def _settings(config: Path | None) -> Settings:
    """``--config``, else ``$BOT_CONFIG``, else the default file (as every command)."""
    import os

    from bot.app.cli import config_source

    try:
        return load_settings(config_source(config, os.environ))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    if not symbols or not all(s.replace(".", "").isalnum() for s in symbols):
        raise argparse.ArgumentTypeError(f"expected tickers like SPY,QQQ, got {text!r}")
    return symbols


def _fetch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot fetch-history",
                                     description="pull 1-minute bars of the underlyings")
    parser.add_argument("--symbols", type=_symbols, default=None,
                        help="comma-separated (default: the configured symbols)")
    parser.add_argument("--days", type=int, default=30, help="closed sessions to pull (1-365)")
    parser.add_argument("--out", type=Path, default=None, help="directory (default: record.dir)")
    parser.add_argument("--config", type=Path, default=None, help="YAML settings")
    parser.add_argument("--client-id", type=int, default=None,
                        help=f"API client id (default: broker.client_id + {CLIENT_ID_OFFSET})")
    return parser


def fetch_history_main(argv: Sequence[str]) -> int:
    """``fetch-history``: one line per (symbol, day), then a summary line."""
    from bot.data.history import fetch_history, sessions_to_fetch

    args = _fetch_parser().parse_args(list(argv))
    _quiet_logs()
    if not 1 <= args.days <= 365:
        print("error: --days must be 1-365", file=sys.stderr)
        return EXIT_CONFIG
    settings = _settings(args.config)
    symbols = args.symbols or settings.symbols
    out = args.out or settings.record.dir
    client_id = args.client_id if args.client_id is not None else (
        settings.broker.client_id + CLIENT_ID_OFFSET) % 1_000_000
    with ExitStack() as stack:
        host, port = settings.broker.host, settings.broker.port
        try:
            host, port = _gateway(settings, symbols, stack)
            history = _connect(settings, host, port, client_id, stack)
            now = history.connect()
            ledger = Path(settings.journal.dir) / LEDGER_FILE
            history.remember(_load_ledger(ledger))
            stack.callback(lambda: _save_ledger(ledger, history.recent()))  # also on Ctrl-C
        except (OSError, TimeoutError) as exc:
            print(f"error: gateway {host}:{port} not reached: {type(exc).__name__} {exc}",
                  file=sys.stderr)
            return EXIT_FAILED
        days = sessions_to_fetch(now, args.days)
        print(f"history_started symbols={','.join(symbols)} days={len(days)} "
              f"from={days[0]} to={days[-1]} out={out.absolute()} gateway_time={now.isoformat()}",
              flush=True)

        def report(result) -> None:
            print(result.line(), flush=True)
            _save_ledger(ledger, history.recent())

        try:
            results = fetch_history(out, symbols, days, history.bars, report=report)
        except (ConnectionError, KeyboardInterrupt) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            print(f"error: {why}; the days written are kept: run again to resume",
                  file=sys.stderr)
            return EXIT_FAILED
    counts = Counter(r.outcome for r in results)
    print("history_done " + " ".join(f"{k}={counts.get(k, 0)}"
                                     for k in ("fetched", "skipped", "partial", "no_data")))
    return EXIT_OK


def _load_ledger(path: Path) -> list:
    """The earlier run's requests (none when the file is missing or unreadable)."""
    import json

    try:
        return [(float(at), list(query), str(contract))
                for at, query, contract in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def _save_ledger(path: Path, entries: list) -> None:
    import json

    from bot.data.gzip_members import write_atomically

    try:
        write_atomically(path, json.dumps(entries).encode())
    except OSError as exc:  # pacing still holds within this run
        print(f"warning: pacing ledger not written: {exc}", file=sys.stderr)


def _quiet_logs() -> None:
    """Warnings and errors only (the embedded simulator logs every session otherwise)."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")


def _gateway(settings: Settings, symbols: tuple[str, ...], stack: ExitStack) -> tuple[str, int]:
    """The configured gateway; with ``broker.kind: sim`` an embedded simulator (as ``run``)."""
    if settings.broker.kind != "sim":
        return settings.broker.host, settings.broker.port
    from bot.sim.server import GatewayOptions, SimGateway

    sim = settings.broker.sim
    gateway = SimGateway(GatewayOptions(
        host="127.0.0.1", port=0, seed=sim.seed, speed=sim.speed, account=sim.account,
        start=datetime.fromisoformat(sim.start) if sim.start else None, symbols=symbols))
    port = gateway.start()
    stack.callback(gateway.stop)
    return "127.0.0.1", port


def _connect(settings: Settings, host: str, port: int, client_id: int, stack: ExitStack):
    from bot.ib import client
    from bot.ib.history import HistoryClient

    client.choose(settings.broker.client)
    history = HistoryClient(host, port, client_id, settings.broker.request_timeout_s,
                            on_wait=lambda s: print(f"history_paced wait_s={s:.1f}", flush=True))
    stack.callback(history.close)
    return history


MAX_PROBLEMS_SHOWN = 50


def _import_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot import-csv",
                                     description="import 1-minute bars from a CSV file")
    parser.add_argument("file", type=Path, help="CSV with timestamp,open,high,low,close,volume")
    parser.add_argument("--symbol", type=lambda s: _symbols(s)[0], required=True,
                        help="the underlying the bars are of")
    parser.add_argument("--out", type=Path, default=None, help="directory (default: record.dir)")
    parser.add_argument("--tz", default="America/New_York",
                        help="zone of timestamps without an offset (default America/New_York)")
    parser.add_argument("--config", type=Path, default=None, help="YAML settings")
    return parser


def import_csv_main(argv: Sequence[str]) -> int:
    """``import-csv``: bad rows to stderr by line, one line per day written, a summary; exit 2
    when nothing valid was found."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from bot.data.csv_import import parse_csv, write_days

    args = _import_parser().parse_args(list(argv))
    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"error: unknown time zone {args.tz!r}", file=sys.stderr)
        return EXIT_CONFIG
    out = args.out or _settings(args.config).record.dir
    try:
        with args.file.open(newline="", encoding="utf-8-sig") as f:
            parsed = parse_csv(f, args.symbol, tz)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for line, why in parsed.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"{args.file}:{line}: {why}", file=sys.stderr)
    if len(parsed.problems) > MAX_PROBLEMS_SHOWN:
        print(f"... and {len(parsed.problems) - MAX_PROBLEMS_SHOWN} more bad rows", file=sys.stderr)
    for day, bars, path in write_days(out, args.symbol, parsed):
        print(f"import_written symbol={args.symbol} day={day.isoformat()} bars={bars} path={path}")
    print(f"import_done symbol={args.symbol} bars={parsed.bars} days={len(parsed.days)} "
          f"bad_rows={len(parsed.problems)} outside_regular_hours={parsed.outside_hours}")
    if not parsed.bars:
        print("error: no valid bar in regular hours to import", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK
