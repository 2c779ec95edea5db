"""Test-only entry point: ``python tests/crash_after_intent.py ARGS`` is ``python -m bot ARGS``,
except that the process SIGKILLs itself right after the journal committed the first entry and
before the JournalActor sends it: the crash that write-ahead must survive (the intent is sent
exactly once after the restart). The production code holds no hook for it: this module wraps
``Journal.record`` before the bot starts."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.journal import is_entry  # noqa: E402
from bot.app.cli import main  # noqa: E402
from bot.journal.write import Journal  # noqa: E402

_record = Journal.record


def _record_then_crash_after_an_entry(self, message, *args, **kwargs):
    written = _record(self, message, *args, **kwargs)
    if is_entry(message):
        os.kill(os.getpid(), signal.SIGKILL)
    return written


Journal.record = _record_then_crash_after_an_entry

if __name__ == "__main__":
    sys.exit(main())
