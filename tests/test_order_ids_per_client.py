"""IB keeps order ids per client id: after a move to another client id (error 326) the bot's
new orders may carry the same ids as its orphans, the orders it placed under the earlier id.
An error IB sends about an order id is about the connected client's own order, so it must
reach that order's intent, never an orphan's with the same id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ib_insync import Order, OrderStatus, Trade
from loguru import logger
from pure_helpers import RECOVERED_CONTRACT

from actors.broker.memory import BrokerMemory
from actors.broker.orders import Orders
from actors.broker.requests import BrokerCore
from bot import messages as m
from bot.app.config import Settings
from bot.ib import translate as tr

TS = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ORPHAN = "SPY-202611201000-aaaaaa.sl"  # placed as client 17 before the bot moved
MINE = "SPY-202611201430-bbbbbb.entry"  # placed as client 18, now connected
SAME_ID = 1  # client 18's first id: its own sequence starts where client 17's did


def trade(client_id: int, ref: str, status: str) -> Trade:
    order = Order(orderId=SAME_ID, clientId=client_id, orderRef=ref, action="BUY",
                  totalQuantity=1, orderType="LMT", lmtPrice=1.0)
    return Trade(contract=tr.option_contract(RECOVERED_CONTRACT), order=order,
                 orderStatus=OrderStatus(orderId=SAME_ID, clientId=client_id, status=status))


def test_an_error_for_an_order_id_reaches_the_connected_clients_order_not_an_orphans() -> None:
    # Arrange: the broker connected as client 18 knows its own order and client 17's orphan,
    # both under order id 1; the orphan's status arrives last
    loop = asyncio.new_event_loop()
    published: list[object] = []
    core = BrokerCore(None, loop, Settings.model_validate({}), lambda: TS, published.append,
                      logger)
    orders = Orders(core, market=None, memory=BrokerMemory(),  # type: ignore[arg-type]
                    client_id=lambda: 18)
    orders.on_status(trade(18, MINE, "Submitted"))
    orders.on_status(trade(17, ORPHAN, "Submitted"))
    # Act: IB rejects order id 1 of the connected client
    handled = orders.on_error(SAME_ID, 201, "Order rejected - reason:test")
    loop.close()
    # Assert
    rejected = [e for e in published if isinstance(e, m.OrderRejected)]
    assert handled and [e.client_order_id for e in rejected] == [MINE]
