"""The replica's durable state in one SQLite file: epoch, vote, the log and the commit index.

Saves go into one open transaction (WAL mode) until :meth:`Store.commit`: the node commits once
for all the saves of one turn of its event loop, and only then lets out the frames that depend on
them (group commit). The commit runs with ``synchronous=FULL``: the WAL is fsynced before it
returns, so what a commit returned from, the commit index included, survives both ``kill -9`` and
a power loss (the ``power-loss`` fault, which drops whatever was not fsynced); a save not yet
committed survives neither. ``durable=False`` is the ``ack-before-fsync`` bug:
``synchronous=OFF``, no commit is ever fsynced, and a power loss erases entries the node already
acknowledged.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import orjson

from system_under_test.records import Entry

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS log (
    idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, kind TEXT NOT NULL,
    origin TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class Loaded:
    term: int
    voted_for: str | None
    log: list[Entry]
    commit: int


class Store:
    def __init__(self, path: str | Path, durable: bool = True) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        self.db.executescript(SCHEMA)
        self.dirty = False  # saves wait in the open transaction for commit()

    def load(self) -> Loaded:
        meta = dict(self.db.execute("SELECT k, v FROM meta"))
        rows = self.db.execute("SELECT term, kind, origin, n, data FROM log ORDER BY idx")
        log = [Entry(t, k, orjson.loads(d), o, n) for t, k, o, n, d in rows]
        return Loaded(
            term=int(meta.get("term", 0)),
            voted_for=meta.get("voted_for") or None,
            log=log,
            commit=min(int(meta.get("commit", 0)), len(log)),
        )

    def save_meta(self, term: int, voted_for: str | None) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("term", str(term)), ("voted_for", voted_for or "")],
        )
        self.dirty = True

    def save_entries(self, start: int, entries: list[Entry]) -> None:
        rows = [
            (start + i, e.term, e.kind, e.origin, e.n, orjson.dumps(e.data))
            for i, e in enumerate(entries)
        ]
        self.db.execute("DELETE FROM log WHERE idx >= ?", (start,))
        self.db.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.dirty = True

    def save_commit(self, index: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('commit', ?)", (str(index),))
        self.dirty = True

    def commit(self) -> None:
        """Make every save since the last commit durable, in one transaction (fsynced unless
        the store was made with ``durable=False``)."""
        if self.dirty:
            self.db.commit()
            self.dirty = False

    def close(self) -> None:
        self.commit()
        self.db.close()
