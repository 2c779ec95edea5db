"""Market data on disk: what the bot records, what ``fetch-history`` and ``import-csv`` write,
and what replay reads (one format).

- ``record_format``: the layout and the rows, pure (paths, session day, decimal text).
- ``gzip_members``: append-only gzip files of members that survive a killed process.
- ``recorder``: the recording's writer (buffer, de-duplicated bars, flush).
- ``csv_import``: ``import-csv``: a CSV of 1-minute bars checked row by row, split by session day.
- ``history``: ``fetch-history``'s plan (which sessions), resume (which are complete) and writes.
"""

__all__ = [
    "csv_import",
    "gzip_members",
    "history",
    "record_format",
    "recorder",
]
