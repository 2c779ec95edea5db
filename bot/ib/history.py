"""One-shot historical bars from a gateway, for ``python -m bot fetch-history``.

The one ``bot/ib`` module that holds a connection: the command runs without the actor system
(no trading, no orders), so it owns its own asyncio loop in the main thread and one IB client
(``bot.ib.client``: ib_insync or ib_async). Every request is booked with the pacing governor
(``bot.ib.pacing``) first and waits rather than break IB's historical-data rules: one session
per request (``1 D`` ending at its close), never an identical request within 15 s, at most 60
in 10 minutes (the governor keeps to 50).

IB's windows span processes: a run resumed right after an interrupted one must not repeat
its last requests within 15 s, nor exceed 60 in 10 minutes together with it. So the requests
of the last 10 minutes are kept in a small ledger file (wall times; ``ledger``/``load_ledger``)
and booked with the governor before the first request. Should IB still answer "pacing
violation" (another program asked too), the request is tried again after a pause
(``PACING_RETRY_S``) instead of being taken for a day without data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot import messages as m
from bot.ib import client
from bot.ib import translate as tr
from bot.ib.pacing import Governor, Request

BAR_SIZE, DURATION, WHAT = "1 min", "1 D", "TRADES"
PACING_RETRY_S = (16.0, 60.0, 300.0)
"""Pauses before asking again after IB reported a pacing violation (then: no data)."""
LEDGER_S = 600.0
Booked = tuple[float, list[Any], str]
"""One ledger entry: wall time, the request's query, its contract key."""


def ib_end_time(end: datetime) -> str:
    """IB's UTC form of an end time: ``YYYYMMDD-HH:MM:SS``."""
    return end.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")


class HistoryClient:
    """Connect, ask for one session of 1-minute bars at a time, disconnect."""

    def __init__(self, host: str, port: int, client_id: int, timeout_s: float,
                 on_wait: Callable[[float], None] = lambda _s: None) -> None:
        self.host, self.port, self.client_id, self.timeout_s = host, port, client_id, timeout_s
        self.on_wait = on_wait
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # both clients' getLoop() find it
        self.ib = client.library().IB()
        self.governor = Governor()
        self.contracts: dict[str, Any] = {}
        self.ledger: list[Booked] = []
        self.pacing_errors: set[int] = set()
        self.ib.errorEvent += self._on_error

    def _on_error(self, req_id: int, code: int, text: str, *_rest: Any) -> None:
        if code == 162 and "pacing violation" in text:
            self.pacing_errors.add(req_id)

    def remember(self, earlier: list[Booked], wall: float | None = None) -> None:
        """Book the requests an earlier run made (``earlier``: ledger entries) with the governor."""
        wall = time.time() if wall is None else wall
        mono = time.monotonic()
        for at, query, contract in earlier:
            if 0 <= wall - at < LEDGER_S:
                request = Request("reqHistoricalData", query=tuple(query), contract=contract)
                self.governor.book_past(request, mono - (wall - at))
                self.ledger.append((at, list(query), contract))

    def connect(self) -> datetime:
        """Connect (read-only: this command never orders) and return the gateway's clock."""
        self.loop.run_until_complete(self.ib.connectAsync(
            self.host, self.port, clientId=self.client_id, timeout=self.timeout_s, readonly=True))
        server = self.loop.run_until_complete(self.ib.reqCurrentTimeAsync())
        return server.astimezone(UTC)

    def close(self) -> None:
        self.ib.disconnect()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    def bars(self, symbol: str, end: datetime) -> list[m.Bar]:
        """The regular-hours 1-minute bars of the one session that ends at ``end`` (empty when
        the gateway has none: IB answers 162 "HMDS query returned no data", or no answer came
        in time). Raises ConnectionError once the connection is gone (a rerun resumes)."""
        if not self.ib.isConnected():
            raise ConnectionError("the gateway closed the connection")
        try:
            return self.loop.run_until_complete(self._bars(symbol, end))
        except TimeoutError:
            return []

    async def _bars(self, symbol: str, end: datetime) -> list[m.Bar]:
        contract = await self._contract(symbol)
        if contract is None:
            return []
        end_text = ib_end_time(end)
        query = (symbol, end_text, DURATION, BAR_SIZE, WHAT, True)
        request = Request("reqHistoricalData", query=query, contract=f"{symbol}|SMART|{WHAT}")
        for pause in (*PACING_RETRY_S, None):
            await self._admit(request)
            self.ledger.append((time.time(), list(query), request.contract))
            self.pacing_errors.clear()
            try:
                ib_bars = await self.ib.reqHistoricalDataAsync(
                    contract, end_text, DURATION, BAR_SIZE, WHAT, True, 2, timeout=self.timeout_s)
            finally:
                self.governor.historical_done()
            if ib_bars or not self.pacing_errors or pause is None:
                break
            self.on_wait(pause)
            await asyncio.sleep(pause)
        return [tr.bar_from_ib(symbol, b) for b in ib_bars or []]

    def recent(self, wall: float | None = None) -> list[Booked]:
        """The ledger entries of the last 10 minutes (to save for the next run)."""
        wall = time.time() if wall is None else wall
        return [entry for entry in self.ledger if wall - entry[0] < LEDGER_S]

    async def _contract(self, symbol: str) -> Any:
        """The stock's qualified contract (one reqContractDetails per symbol; None when the
        gateway names no single contract)."""
        if symbol not in self.contracts:
            await self._admit(Request("reqContractDetails"))
            details = await asyncio.wait_for(
                self.ib.reqContractDetailsAsync(tr.stock_contract(symbol)), self.timeout_s)
            self.contracts[symbol] = (tr.stock_contract(symbol, details[0].contract.conId)
                                      if len(details) == 1 else None)
        return self.contracts[symbol]

    async def _admit(self, request: Request) -> None:
        while (wait := self.governor.admit(request, time.monotonic())) > 0:
            self.on_wait(wait)
            await asyncio.sleep(wait)
