"""Settings: frozen pydantic models, loaded from YAML with environment variables on top.

Precedence, highest first: environment (``BOT__BROKER__PORT=4002``), the YAML file, the
defaults below. Every model forbids unknown keys, so a typo is an error rather than a silently
ignored setting. ``load_settings`` raises ``ConfigError`` listing every bad field at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.ops.alerts import KINDS as ALERT_KINDS
from bot.ops.alerts import scheme_of

SCHEMA_VERSION = 1
DEFAULT_CONFIG_PATH = Path("configs/settings.yaml")
ENV_PREFIX = "BOT__"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SimSettings(_Section):
    """The embedded simulated gateway (used when ``broker.kind`` is ``sim``)."""

    seed: int = Field(7, description="seed of the simulated market")
    speed: float = Field(60.0, gt=0, le=3600, description="simulated seconds per wall second")
    start: str | None = Field(None, description="ISO datetime to start the simulated clock at")
    account: str = Field("DU1234567", min_length=2, description="account id the simulator presents")
    latency: Literal["none", "ib"] = Field(
        "none", description="answer delays of the simulator: none (at once, the default) or ib "
        "(seeded delays per request kind as a real gateway has; python -m bot gateway --help)")
    pacing: Literal["ib", "strict"] = Field(
        "ib",
        description="historical data pacing of the simulator: 'ib' refuses (error 162) only "
        "bars of 30 s or less over IB's hard limits and delays larger ones, as IB does; 'strict' "
        "refuses every bar size (the bot's own tests run strict, so it stays inside both)")


class BrokerSettings(_Section):
    kind: Literal["sim", "ib"] = "sim"
    client: Literal["ib_insync", "ib_async"] = Field(
        "ib_insync",
        description="the IB client library: ib_insync 0.9.86 (the default) or ib_async 2.1 (its "
        "maintained fork; pip install -e '.[ib-async]'); same behaviour, one code path")
    host: str = "127.0.0.1"
    port: int = Field(4002, ge=0, le=65535, description="0 = the embedded simulator's free port")
    client_id: int = Field(17, ge=0, le=999_999)
    account: str | None = Field(None, description="account to trade; None = the only managed one")
    read_only: bool = False
    connect_timeout_s: float = Field(10.0, gt=0, le=120)
    request_timeout_s: float = Field(15.0, gt=0, le=300)
    reconnect_min_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(60.0, gt=0, le=900)
    client_id_attempts: int = Field(5, ge=1, le=32, description="client ids tried on error 326")
    client_id_wait_s: float = Field(
        90.0, ge=0, le=600,
        description="after error 326, keep asking for the same client id this long (IB frees it "
        "about a minute after the old session died) before moving to the next: IB lets a client "
        "cancel only the orders it placed itself; 0 moves at once")
    circuit_failures: int = Field(5, ge=1, le=100, description="failures that open the circuit")
    circuit_cooldown_s: float = Field(30.0, gt=0, le=3600)
    sim: SimSettings = SimSettings()

    @model_validator(mode="after")
    def _backoff_ordered(self) -> BrokerSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class StrategySettings(_Section):
    bar_size: Literal["1 min"] = "1 min"
    ema_fast: int = Field(9, ge=2, le=200)
    ema_slow: int = Field(21, ge=3, le=400)
    rsi_period: int = Field(14, ge=2, le=100)
    rsi_call_min: float = Field(55.0, ge=0, le=100, description="RSI at or above: calls allowed")
    rsi_put_max: float = Field(45.0, ge=0, le=100, description="RSI at or below: puts allowed")
    rsi_overbought: float = Field(75.0, ge=0, le=100, description="no calls above this RSI")
    rsi_oversold: float = Field(25.0, ge=0, le=100, description="no puts below this RSI")
    require_vwap: bool = Field(True, description="calls only above VWAP, puts only below")
    cooldown_bars: int = Field(5, ge=0, le=390, description="bars to wait after an entry")
    selection_timeout_s: float = Field(
        60.0, gt=0, le=3600,
        description="wall seconds a selection (the candidates' quotes) may wait for its answer; "
                    "then the strategy is idle again and a late answer is ignored. A proposal "
                    "waits this plus the execution timeouts, a held position this plus "
                    "max_hold_minutes (must exceed broker.request_timeout_s)")

    @model_validator(mode="after")
    def _periods_ordered(self) -> StrategySettings:
        if self.ema_fast >= self.ema_slow:
            raise ValueError("ema_fast must be smaller than ema_slow")
        if self.rsi_put_max >= self.rsi_call_min:
            raise ValueError("rsi_put_max must be below rsi_call_min")
        return self


class OptionSettings(_Section):
    expiry_rule: Literal["nearest", "nearest_weekly"] = "nearest"
    min_dte: int = Field(0, ge=0, le=60, description="days to expiry, inclusive")
    max_dte: int = Field(7, ge=0, le=60)
    selection: Literal["strike_window", "delta"] = "strike_window"
    strike_window: int = Field(3, ge=1, le=20, description="strikes each side of the money")
    prewarm_lines_per_symbol: int = Field(
        4, ge=0, le=20, description="market data lines each symbol keeps streaming for the "
        "options it would choose (calls and puts of the strikes nearest spot), so a signal "
        "decides on quotes in hand; 0 = off; cut to fit IB's 100 lines (bot/trading/prewarm.py)")
    target_delta: float = Field(0.40, gt=0, lt=1, description="absolute delta for 'delta' selection")
    max_spread_pct: float = Field(10.0, gt=0, le=100, description="(ask-bid)/mid in percent")
    min_volume: int = Field(10, ge=0)
    min_premium: float = Field(
        0.10, ge=0.05, description="skip options cheaper than this (a stop needs room above zero)")
    max_quote_age_s: float = Field(
        30.0, gt=0, le=600, description="an option quote older than this is stale: never traded on")

    @model_validator(mode="after")
    def _dte_ordered(self) -> OptionSettings:
        if self.max_dte < self.min_dte:
            raise ValueError("max_dte must be >= min_dte")
        return self


class RiskSettings(_Section):
    max_risk_pct_per_trade: float = Field(1.0, gt=0, le=10)
    max_daily_loss_pct: float = Field(3.0, gt=0, le=50)
    max_trades_per_day: int = Field(6, ge=0, le=500)
    max_open_positions: int = Field(2, ge=0, le=50)
    max_consecutive_losses: int = Field(3, ge=1, le=100)
    take_profit_pct: float = Field(30.0, gt=0, le=1000, description="of the option premium")
    stop_loss_pct: float = Field(20.0, gt=0, lt=100, description="of the option premium")
    max_hold_minutes: int = Field(20, ge=1, le=390)
    flat_before_close_minutes: int = Field(
        10, ge=0, le=120,
        description="minutes before the close (16:00 New York, 13:00 on early-close days) when "
                    "open positions are closed and no entry is taken any more")
    max_contracts: int = Field(10, ge=1, le=1000, description="hard cap whatever the budget")
    commission_per_contract: float = Field(
        0.65, ge=0, le=50,
        description="ESTIMATED commission per contract and side, reserved twice (entry and exit) in "
                    "each entry's worst case against the daily loss cap (0.65: IB's US options rate "
                    "for premiums >= 0.10 up to 10,000 contracts a month; exchange and regulatory "
                    "fees are not included)")
    commission_min_per_order: float = Field(
        1.00, ge=0, le=100,
        description="ESTIMATED minimum commission per order (IB: 1.00 for US options); a side of "
                    "few contracts is reserved at this minimum")
    kill_switch_path: Path = Field(
        Path("logs/KILL"), description="while this file exists no new entry is taken")
    kill_switch_cancel_entries: bool = Field(True, description="kill switch: cancel working entries")
    kill_switch_flatten: bool = Field(False, description="kill switch: close open positions too")


    @field_validator("kill_switch_path", mode="before")
    @classmethod
    def _kill_switch_named(cls, value: Any) -> Any:
        if str(value).strip() in ("", "."):
            raise ValueError("kill_switch_path must name a file (empty turns the kill switch off)")
        return value


class ExecutionSettings(_Section):
    oco_mode: Literal["native", "emulated"] = "native"
    ack_timeout_s: float = Field(10.0, gt=0, le=300, description="submitted -> acknowledged")
    entry_timeout_s: float = Field(60.0, gt=0, le=3600, description="entry not filled -> cancel")
    cancel_timeout_s: float = Field(
        10.0, gt=0, le=300, description="a cancel not confirmed within: sent again (never assumed done)")
    manage_unknown_positions: bool = Field(
        False, description="adopt option positions the journal does not know (arm their exits)")
    check_every_s: float = Field(
        1.0, gt=0, le=10, description="how often open orders and positions are checked: timeouts, "
        "cancel retries, re-pricing, the protection deadline, time exits (wall seconds)")
    protect_within_s: float = Field(
        5.0, gt=0, le=300, description="a held position without stops or a closing order for its "
        "whole quantity longer than this (wall seconds): alarm unprotected_position and act")
    on_unprotected: Literal["flatten", "kill_switch"] = Field(
        "flatten", description="exits rejected 3 times: close at market, or engage the kill switch")
    reprice_every_s: float = Field(
        3.0, gt=0, le=300, description="a closing limit not filled within: re-priced at the bid")
    reprice_steps: int = Field(
        3, ge=0, le=20, description="re-prices (one tick lower each) before the marketable limit")
    marketable_ticks: int = Field(
        5, ge=1, le=50, description="the marketable limit: this many ticks below the bid")
    market_order_before_close_min: float = Field(
        2.0, ge=0, le=60, description="closing orders are market orders this close to the close")
    resend_quote_within_s: float = Field(
        10.0, gt=0, le=300, description="an entry resent after a crash waits this long for a fresh "
        "quote to re-price from, then expires")
    resend_max_rise_pct: float = Field(
        10.0, ge=0, le=1000, description="that resend expires when the fresh ask is more than this "
        "above the approved premium (the risk at the stop grows with it)")
    verify_every_s: float = Field(
        30.0, gt=0, le=3600,
        description="compare the positions and orders ib_insync holds with what the broker "
        "reported (no request to IB); a difference is a verify_* mismatch")


class JournalSettings(_Section):
    """The durable journal: one SQLite file per mode (journal-<mode>.sqlite3) in ``dir``."""

    dir: Path = Path("data")
    slow_commit_ms: float = Field(
        50.0, gt=0, le=60_000,
        description="a commit (one fsync) that takes longer is logged as journal_commit_slow; "
                    "entries wait for their commit (write-ahead)")


class HealthSettings(_Section):
    heartbeat_seconds: float = Field(30.0, gt=0, le=3600)
    ping_timeout_s: float = Field(10.0, gt=0, le=600, description="no pong within: alarm")
    max_mailbox: int = Field(1000, ge=1, description="mailbox depth that raises an alarm")
    journal_failure_stops_watchdog: bool = Field(
        False, description="a journal that cannot be written stops WATCHDOG=1 (systemd restarts "
                           "the bot); by default it only raises the journal=failed alarm")


ROTATION = re.compile(
    r"\d+(\.\d+)?\s*[kmgt]?i?b"  # a size: 10 MB, 500 KB, 1 GiB
    r"|\d+(\.\d+)?\s*(weeks?|w|days?|d|hours?|h|minutes?|mins?)"  # an age: 1 day, 12 hours
    r"|hourly|daily|weekly|monthly",  # at the turn of the hour, day, week or month
    re.IGNORECASE)


class AlertSettings(_Section):
    """Alerts to the owner's phone through apprise (``bot/ops/alerts.py`` lists the kinds).

    ``urls`` are apprise URLs (``tgram://TOKEN/CHAT``, ``ntfy://topic``, ``json://host/``...);
    they hold secrets, so they may come from ``BOT__ALERTS__URLS`` and are never logged (only
    their scheme is). No URL: no alert actor, apprise is not even imported."""

    urls: tuple[str, ...] = ()
    events: tuple[str, ...] = Field(ALERT_KINDS, description="which kinds to send")
    min_interval_s: float = Field(60.0, ge=0, le=86400, description="per kind; held back ones are counted")
    disconnect_after_s: float = Field(120.0, gt=0, le=86400)
    queue_size: int = Field(100, ge=1, le=10000, description="oldest dropped (and counted) beyond")
    retries: int = Field(3, ge=0, le=10)
    retry_backoff_s: float = Field(2.0, gt=0, le=300, description="doubles after each failure")

    @field_validator("urls", "events", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: "a,b"
            return tuple(s.strip() for s in value.split(",") if s.strip())
        return value

    @field_validator("events")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in value if k not in ALERT_KINDS]
        if unknown:
            raise ValueError(f"unknown alert kinds {unknown}; known: {', '.join(ALERT_KINDS)}")
        return value

    @field_validator("urls")
    @classmethod
    def _have_scheme(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any("://" not in url for url in value):
            raise ValueError("each alert URL needs a scheme, like tgram://... or ntfy://...")
        return value


class RecordSettings(_Section):
    """Recording of the market data the bot receives, for replay and backtests (the format:
    ``bot/data/record_format.py``)."""

    enabled: bool = Field(False, description="write the bars, quotes, option quotes and chains "
                                             "received, per session day")
    dir: Path = Field(Path("data/recordings"), description="where the recording goes")
    queue_size: int = Field(
        10_000, ge=10, le=1_000_000,
        description="rows (and mailbox messages) waiting to be written; beyond it new ones are "
        "dropped and counted as record_dropped in the heartbeat: recording never slows trading")
    flush_s: float = Field(5.0, gt=0, le=300, description="write what was received this often "
                                                           "(one gzip member per file)")


class LoggingSettings(_Section):
    level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = "INFO"
    dir: Path = Path("logs")
    rotation: str = Field("10 MB", description="start a new file at a size (10 MB), an age "
                                               "(1 day) or hourly/daily/weekly/monthly")
    retention: int = Field(10, ge=1, le=1000, description="rotated files kept")
    json_file: bool = True

    @field_validator("rotation")
    @classmethod
    def _rotation_understood(cls, value: str) -> str:
        if not ROTATION.fullmatch(value.strip()):
            raise ValueError("rotation must be a size (10 MB), an age (1 day) or "
                             "hourly/daily/weekly/monthly")
        return value.strip()


class Settings(_Section):
    """The whole configuration; see ``configs/settings.yaml`` for an annotated sample."""

    schema_version: Literal[1] = SCHEMA_VERSION
    dry_run: bool = Field(True, description="orders never leave the bot (ib kind)")
    symbols: tuple[str, ...] = Field(("SPY", "QQQ", "IWM"), min_length=1, max_length=32)
    broker: BrokerSettings = BrokerSettings()
    strategy: StrategySettings = StrategySettings()
    options: OptionSettings = OptionSettings()
    risk: RiskSettings = RiskSettings()
    execution: ExecutionSettings = ExecutionSettings()
    health: HealthSettings = HealthSettings()
    journal: JournalSettings = JournalSettings()
    logging: LoggingSettings = LoggingSettings()
    alerts: AlertSettings = AlertSettings()
    record: RecordSettings = RecordSettings()

    @model_validator(mode="after")
    def _selection_outlives_requests(self) -> Settings:
        if self.strategy.selection_timeout_s <= self.broker.request_timeout_s:
            raise ValueError("strategy.selection_timeout_s must exceed broker.request_timeout_s "
                             "(the broker's own timeout answers first)")
        return self

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: "SPY,QQQ"
            return tuple(s.strip() for s in value.strip("[]").replace('"', "").split(",") if s.strip())
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if not (s.isascii() and s.replace(".", "").isalnum() and s.isupper())]
        if bad:
            raise ValueError(f"symbols must be upper-case tickers, got {bad}")
        if len(set(value)) != len(value):
            raise ValueError("symbols must not repeat")
        return value


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` holds one line per bad field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration ({source}):\n{lines}")


SECRET_FIELDS = (("alerts", "urls"),)
"""Fields whose values are never echoed in an error (they hold tokens)."""


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    shown = error.get("input")
    secret = any(tuple(error["loc"][:len(f)]) == f for f in SECRET_FIELDS)
    got = "" if isinstance(shown, dict) or secret else f" (got {shown!r})"
    return f"{where}: {error['msg']}{got}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error: plain PyYAML
    keeps the last one silently (``dry_run: true`` ... ``dry_run: false`` ends as false)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *defaults`` is meant to be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key fails below with PyYAML's own message
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found duplicate key {key!r} (first on line {first.start_mark.line + 1})",
                    key_node.start_mark)
        return super().construct_mapping(node, deep)


def _load_yaml_text(text: str) -> Any:
    """YAML as data, refusing duplicate keys (``_UniqueKeyLoader``)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file; a missing default file is an empty mapping.

    Whatever is wrong with the file (missing, a directory, unreadable, not UTF-8, not YAML,
    a key given twice) is a ``ConfigError`` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path == DEFAULT_CONFIG_PATH:
            return {}
        raise ConfigError(str(path), [f"file not found: {path}"]) from None
    except IsADirectoryError:
        raise ConfigError(str(path), [f"{path} is a directory, not a settings file"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at "
                                      f"offset {exc.start}"]) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        data = _load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["the top level must be a mapping of settings"])
    return data


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``BOT__BROKER__PORT=4002`` as ``{"broker": {"port": "4002"}}`` (keys lower-cased).

    Values stay text: validation converts them ("4002" -> 4002, "false" -> False). A variable
    naming no setting is reported like any unknown key, so a typo never passes silently."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        *parents, leaf = name[len(ENV_PREFIX):].lower().split("__")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment {name}", [f"{'.'.join(parents)} is not a section"])
        node[leaf] = value
    return tree


def _merged(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, section by section."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        out[key] = _merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return out


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load YAML (default ``configs/settings.yaml``), apply ``BOT__`` env vars, validate.

    The environment beats the file. (pydantic-settings does the same, but importing it costs
    5.4 MiB of RSS on the Pi, where the whole bot is meant to fit in 60.)"""
    source = path or DEFAULT_CONFIG_PATH
    data = _merged(_read_yaml(source), _env_overrides(os.environ if environ is None else environ))
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source} + {ENV_PREFIX}* environment",
                          [_describe(e) for e in exc.errors()]) from None


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, safe to print: alert URLs (they carry tokens)
    show their scheme only."""
    data = settings.model_dump(mode="json")
    data["alerts"]["urls"] = [f"{scheme_of(url)}://(redacted)" for url in settings.alerts.urls]
    return data
