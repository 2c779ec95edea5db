"""Which IB client library the bot speaks through: ib_insync (the default) or ib_async.

ib_async is the maintained fork of ib_insync (same API, same wire protocol; it negotiates
client version 178 where ib_insync stops at 176). The bot has one code path for both:
``bot/ib/translate.py`` and ``actors/broker`` take every class and constant from ``library()``
here, never from a package by name.

The choice is made once per process, before the first ``library()`` call (the runner calls
``choose(settings.broker.client)`` before it imports the broker). Without a ``choose`` the
``BOT__BROKER__CLIENT`` environment variable decides (so tests and CI can run the broker
suite under either client), else ib_insync. Choosing another library after one was loaded
raises: the translation tables and live objects of two libraries must never mix.

Differences handled elsewhere, each where it bites:
- ib_async refuses to hash a Contract without ``conId``; tickers and bar lists are keyed by
  that hash, so underlyings are qualified before reqMktData and keepUpToDate bars
  (``actors/broker/market.py``).
- Empty values: ib_insync and ib_async send nan for an unset price and -1 for IB's "no price";
  ib_async's ``IBDefaults`` can change both, and ``UNSET_DOUBLE`` (float max) marks unset order
  fields; ``translate.price`` and ``translate.size`` read every one of them as "no value".
  Both decode sizes as floats (no ``Decimal``); translate calls ``float`` on every figure.
- aeventkit (ib_async's event library) installs as the same ``eventkit`` package, with the
  same numpy import ``bot/app/deferred_import.py`` defers.
- Library logger names: ``LOGGERS`` (``bot/ops/logs.py`` quiets them).
- ``qualifyContractsAsync`` (ib_async answers None for a contract it cannot qualify) is never
  called: ``reqContractDetails`` is, and only a single answer counts.
- ``util.getLoop()``: ib_async 2.1 prefers the running loop, then the thread's; the broker's
  thread sets its loop as the thread's (``actors/loop_inbox.py``), so both clients find it.

Importing this module imports no client library: ``installed`` only looks the package up.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import types
from typing import Final, Literal

ClientName = Literal["ib_insync", "ib_async"]
CLIENTS: Final[tuple[ClientName, ...]] = ("ib_insync", "ib_async")
DEFAULT: Final[ClientName] = "ib_insync"
ENV_VAR: Final = "BOT__BROKER__CLIENT"
EXTRA: Final[dict[str, str]] = {"ib_insync": "pip install -e .", "ib_async": "pip install -e '.[ib-async]'"}
"""How to install each client (the error message of ``check-config`` says it)."""
LOGGERS: Final[dict[str, tuple[str, ...]]] = {
    name: (f"{name}.wrapper", f"{name}.client", f"{name}.ib") for name in CLIENTS
}
"""The chatty standard-library loggers of each client (each logs every error IB sends)."""

_chosen: ClientName | None = None
_loaded: types.ModuleType | None = None


class ClientUnavailable(RuntimeError):
    """The chosen client library is not installed, or another one was already loaded."""


def installed(name: str) -> bool:
    """Whether the package ``name`` can be imported (looked up, not imported)."""
    return importlib.util.find_spec(name) is not None


def missing_message(name: str) -> str:
    return (f"broker.client is {name}, but {name} is not installed; install it with "
            f"`{EXTRA.get(name, 'pip install ' + name)}` or choose one of: "
            + ", ".join(c for c in CLIENTS if installed(c)))


def choose(name: str) -> None:
    """Use ``name`` for the rest of the process; a no-op when it is already the choice."""
    global _chosen
    if name not in CLIENTS:
        raise ClientUnavailable(f"unknown IB client {name!r}; one of: {', '.join(CLIENTS)}")
    if _loaded is not None and _loaded.__name__ != name:
        raise ClientUnavailable(f"{_loaded.__name__} is already loaded; cannot switch to {name}")
    _chosen = name  # type: ignore[assignment]


def chosen() -> ClientName:
    """The library in use: the explicit choice, else ``BOT__BROKER__CLIENT``, else ib_insync."""
    if _chosen is not None:
        return _chosen
    name = os.environ.get(ENV_VAR, DEFAULT).strip() or DEFAULT
    if name not in CLIENTS:
        raise ClientUnavailable(f"{ENV_VAR}={name!r}; one of: {', '.join(CLIENTS)}")
    return name  # type: ignore[return-value]


def library() -> types.ModuleType:
    """The chosen client package, imported on the first call (in the main thread: its event
    library asks for an event loop at import, see ``actors/broker/actor.py``)."""
    global _loaded
    if _loaded is None:
        name = chosen()
        if not installed(name):
            raise ClientUnavailable(missing_message(name))
        _loaded = importlib.import_module(name)
    return _loaded


def objects() -> types.ModuleType:
    """The chosen package's ``objects`` module (BarData, Fill, Position, ...)."""
    return importlib.import_module(f"{library().__name__}.objects")


def unset_double() -> float:
    """The chosen library's marker of an unset double (float max in both)."""
    return float(importlib.import_module(f"{library().__name__}.util").UNSET_DOUBLE)
