"""Backtests: the bot's own actors over recorded or imported data, and the report.

- ``driver``: runs the production path (actors, ib_insync, the journal) against the embedded
  simulated gateway in replay mode, in lock step with its stepped clock (deterministic).
- ``metrics``: the report's figures as pure functions of the fills (P&L, drawdown, Sharpe...).
- ``report``: writes ``report.json``, ``report.md`` and the charts.
- ``command``: ``python -m bot backtest``.
"""

__all__ = ["command", "driver", "metrics", "report"]
