"""The layers keep to their rules, read from every module's imports, so they cannot drift.

- ``bot/trading`` and ``bot/messages`` are pure: no actors, no IB client, no database, no I/O,
  no clock of their own (time is passed in).
- Only ``actors/broker`` and ``bot/ib`` speak to IB through its client library.
- ``bot/sim`` meets the bot only on the socket: of the bot it imports the shared NYSE calendar
  alone, and never an IB client library (it must behave as IB does, not as a client expects).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IB_CLIENTS = {"ib_insync", "ib_async", "eventkit", "aeventkit", "ibapi"}
IMPURE = IB_CLIENTS | {
    "pykka", "sqlite3", "socket", "asyncio", "selectors", "subprocess", "threading", "os",
    "shutil", "pathlib", "io", "time", "logging", "loguru", "psutil", "urllib", "http", "yaml",
}
SIM_MAY_USE_OF_THE_BOT = {"bot.trading.exchange_calendar"}


def imports_of(source: str, module: str) -> set[str]:
    """Every module name a source file imports, relative imports resolved against ``module``."""
    names: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules(*folders: str) -> list[tuple[str, set[str]]]:
    found = []
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found.append((name, imports_of(path.read_text(), name)))
    return found


def top(name: str) -> str:
    return name.split(".", 1)[0]


def violations(found: list[tuple[str, set[str]]], forbidden) -> list[str]:
    return sorted(f"{mod} imports {imp}" for mod, imps in found for imp in imps if forbidden(imp))


@pytest.mark.parametrize("folder", ["bot/trading", "bot/messages"])
def test_pure_layers_import_no_actors_ib_database_or_io(folder) -> None:
    assert violations(modules(folder), lambda imp: top(imp) in IMPURE) == []


def test_only_the_broker_actors_and_bot_ib_import_an_ib_client() -> None:
    others = [(mod, imps) for mod, imps in modules("bot", "actors")
              if not mod.startswith(("actors.broker.", "bot.ib."))]

    assert violations(others, lambda imp: top(imp) in IB_CLIENTS) == []


def test_the_simulator_uses_nothing_of_the_bot_but_the_calendar_and_no_ib_client() -> None:
    def forbidden(imp: str) -> bool:
        if top(imp) in IB_CLIENTS | {"actors"}:
            return True
        allowed = imp.startswith("bot.sim") or any(
            imp == ok or imp.startswith(ok + ".") for ok in SIM_MAY_USE_OF_THE_BOT)
        return top(imp) == "bot" and not allowed

    assert violations(modules("bot/sim"), forbidden) == []


def test_the_trading_layer_reads_no_settings_but_the_models() -> None:
    def forbidden(imp: str) -> bool:
        return imp.startswith(("bot.app", "bot.ops", "bot.journal", "bot.ib", "bot.sim", "actors")) \
            and not imp.startswith("bot.app.config")

    assert violations(modules("bot/trading", "bot/messages"), forbidden) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import ib_insync", {"ib_insync"}),
        ("from sqlite3 import connect", {"sqlite3", "sqlite3.connect"}),
        ("from . import brackets", {"bot.trading", "bot.trading.brackets"}),
        ("from ..messages import Bar", {"bot.messages", "bot.messages.Bar"}),
        ("def f():\n    import pykka\n", {"pykka"}),
    ],
)
def test_the_import_reader_sees_every_form_of_import(source, expected) -> None:
    assert imports_of(source, "bot.trading.risk") == expected


def test_a_broken_rule_is_reported_by_module_and_import() -> None:
    found = [("bot.trading.risk", {"sqlite3", "math"}), ("bot.trading.signals", {"bot.messages"})]

    assert violations(found, lambda imp: top(imp) in IMPURE) == ["bot.trading.risk imports sqlite3"]


@pytest.mark.parametrize(
    "package",
    ["bot/trading", "bot/ib", "bot/journal", "bot/ops", "bot/app", "bot/backtest", "bot/data",
     "actors", "actors/broker"],
)
def test_each_package_lists_its_modules_in_its_curated_surface(package) -> None:
    folder = REPO / package
    on_disk = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")) + sorted(
        p.name for p in folder.iterdir() if (p / "__init__.py").exists())
    module = importlib.import_module(package.replace("/", "."))

    assert sorted(module.__all__) == sorted(on_disk)
    assert module.__doc__ and all(f"``{name}``" in module.__doc__ for name in on_disk)
