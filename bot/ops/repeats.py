"""A failure that repeats on every write is logged once, then summarised once a period.

A journal that cannot be written fails on every event the bot records: one ERROR line per
write would bury everything else in the log. ``RepeatSummary`` says when to speak: at the
first failure (``first``), then at most once per ``period_s`` with the count since the last
line (``summary``). Pure: the caller passes the monotonic time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RepeatSummary:
    period_s: float = 60.0
    total: int = 0
    unreported: int = 0
    last_line_at: float | None = None

    def note(self, now: float) -> tuple[str, int] | None:
        """Count one occurrence; ``("first", 1)``, ``("summary", n)`` when a line is due, else None."""
        self.total += 1
        self.unreported += 1
        if self.last_line_at is None:
            self.last_line_at, self.unreported = now, 0
            return ("first", 1)
        if now - self.last_line_at >= self.period_s:
            count, self.unreported, self.last_line_at = self.unreported, 0, now
            return ("summary", count)
        return None

    def due(self, now: float) -> tuple[str, int] | None:
        """A summary of what was counted but not yet said, when its period has passed."""
        if self.unreported and self.last_line_at is not None and now - self.last_line_at >= self.period_s:
            count, self.unreported, self.last_line_at = self.unreported, 0, now
            return ("summary", count)
        return None
