"""The application: settings, wiring and the command line.

- ``config``: the settings models (YAML, then environment variables on top).
- ``routing``: the actor directory and who hears which published event.
- ``supervisor``: starts the actors in dependency order, applies the failure policy, stops
  them in reverse.
- ``runner``: ``python -m bot``: logs, broker side (embedded simulator or a gateway), supervisor.
- ``cli``: the commands (run, check-config, status, kill, gateway).
- ``data_cli``: the market data commands (fetch-history, import-csv).
- ``exit_codes``: the process exit codes, one table for every command.
- ``deferred_import``: keeps a package the bot never uses from loading.
"""

__all__ = [
    "cli",
    "config",
    "data_cli",
    "deferred_import",
    "exit_codes",
    "routing",
    "runner",
    "supervisor",
]
