"""The durable record: SQLite schema and migrations, the writer, read-only queries, and the
pure reconciliation of the journal against what the broker reports.
"""
