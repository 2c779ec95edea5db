"""The durable record of what the bot decided and did.

- ``schema``: SQLite tables, migrations, intent statuses.
- ``write``: the journal the JournalActor writes (WAL, one writer).
- ``group``: how writes are committed: each alone, or many in one group commit.
- ``linger``: pure: while an entry is on its way, its records wait for its order's commit.
- ``read``: read-only queries for reconciliation and ``status``.
- ``reconcile``: pure: the journal's intents against what the broker holds, as a plan.
"""

__all__ = [
    "group",
    "linger",
    "read",
    "reconcile",
    "schema",
    "write",
]
