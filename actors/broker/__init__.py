"""The BrokerActor and its parts: the connection (``link``), market data (``market``), orders
(``orders``) and the request gate (``requests``). Only this package and ``bot.ib`` import
ib_insync.
"""
