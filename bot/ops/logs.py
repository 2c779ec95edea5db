"""Logging: readable lines for people, JSON lines for machines, one setup for the process.

Console and ``logs/bot.log`` get ``HH:MM:SS.mmm LEVEL actor message``; ``logs/bot.jsonl`` gets
one compact JSON object per line with the bound fields (``actor``, ``symbol``, and any
structured payload bound as ``data``). Both files rotate and keep ``retention`` old files.
Standard-library logging (pykka, ib_insync or ib_async, asyncio) is routed into loguru once.

The file sinks write synchronously into buffered files (loguru locks each sink, so lines from
different threads never interleave). Measured per line, both files: 24 us this way, 175 us with
``enqueue=True``, which pickles every record in the caller's thread: on the order path, where
about ten lines are written between a bar and its order, that difference is milliseconds.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from loguru import logger

from bot.app.config import LoggingSettings
from bot.ib import client

READABLE = "{time:HH:mm:ss.SSS} {level:<7} {extra[actor]:<12} {message}"


class _InterceptHandler(logging.Handler):
    """Forward stdlib log records to loguru, keeping level and origin."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(actor=record.name.split(".")[0]).opt(exception=record.exc_info).log(
            level, record.getMessage()
        )


def _json_line(record: dict[str, Any]) -> str:
    extra = dict(record["extra"])
    payload: dict[str, Any] = {
        "ts": record["time"].isoformat(),
        "level": record["level"].name,
        "actor": extra.pop("actor", ""),
        "msg": record["message"],
    }
    payload.update({k: v for k, v in extra.items() if k != "json"})
    if record["exception"] is not None:
        payload["exception"] = repr(record["exception"].value)
    return json.dumps(payload, default=str, separators=(",", ":"))


def _json_format(record: dict[str, Any]) -> str:
    """Format of the JSON-lines sink: the record is serialised only for this sink."""
    record["extra"]["json"] = _json_line(record)
    return "{extra[json]}\n"


class LogsUnusable(Exception):
    """The logs directory or a log file cannot be created or written (one line: which and why)."""


def configure_logging(settings: LoggingSettings, *, console: bool = True, files: bool = True) -> None:
    """Replace every loguru sink with the bot's console and rotating file sinks.

    Raises ``LogsUnusable`` when the directory or a file cannot be written."""
    logger.remove()
    logger.configure(extra={"actor": "main"})
    if console:
        logger.add(sys.stderr, level=settings.level, format=READABLE, colorize=None)
    if files:
        try:
            _add_file_sinks(settings)
        except OSError as exc:
            logger.remove()
            where = exc.filename or settings.dir
            raise LogsUnusable(f"logs directory {settings.dir} is not usable: {where}: "
                               f"{exc.strerror or exc}") from None
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO, force=True)
    for noisy in (name for names in client.LOGGERS.values() for name in names):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _add_file_sinks(settings: LoggingSettings) -> None:
    settings.dir.mkdir(parents=True, exist_ok=True)
    common = dict(level=settings.level, rotation=settings.rotation,
                  retention=settings.retention, enqueue=False, encoding="utf-8")
    logger.add(settings.dir / "bot.log", format=READABLE, **common)
    if settings.json_file:
        logger.add(settings.dir / "bot.jsonl", format=_json_format, **common)
