"""The process exit codes, one table for every command (README: Operations).

A module of its own so that ``check-config``, ``status`` and ``kill`` need not import the actor
system (pykka, the message catalogue) just to name a number: they answer faster.
"""

EXIT_OK = 0
"""A clean stop, or the command did what it says."""
EXIT_FAILED = 1
"""A failure (see the log); ``status`` without a journal; ``kill`` that no bot confirmed."""
EXIT_CONFIG = 2
"""Invalid configuration or arguments: nothing was started."""
EXIT_REFUSED = 3
"""Refused: the safety gate, another bot on the journal directory, an unusable journal or
logs directory."""
