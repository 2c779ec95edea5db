"""Test-only entry point: ``python tests/crash_after_intent.py ARGS`` is ``python -m bot ARGS``,
except that the process SIGKILLs itself right after the journal committed the first entry and
before the JournalActor sends it: the crash that write-ahead must survive (the intent is sent
exactly once after the restart). The production code holds no hook for it: this module wraps
``Journal.record`` (which notes an entry written into the open group) and
``Journal.commit_group`` (the commit that makes it durable: the kill follows it) before the
bot starts."""

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
_commit_group = Journal.commit_group


def _record_noting_an_entry(self, message, *args, **kwargs):
    written = _record(self, message, *args, **kwargs)
    if is_entry(message):
        self.entry_written = True
    return written


def _commit_then_crash_after_an_entry(self):
    outcome = _commit_group(self)
    if getattr(self, "entry_written", False):
        os.kill(os.getpid(), signal.SIGKILL)
    return outcome


Journal.record = _record_noting_an_entry
Journal.commit_group = _commit_then_crash_after_an_entry

if __name__ == "__main__":
    sys.exit(main())
