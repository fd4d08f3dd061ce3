"""Durable user marks on inputs ("this label is wrong / right / unsure").

Marks live in one SQLite file so they survive restarts and are shared by all
worker processes of the app.  Every call opens its own short-lived
connection: this is safe across threads and processes, and SQLite's WAL
journal lets readers proceed while one writer commits.  Concurrent writers
wait up to ``timeout`` seconds for the lock.

Marks are keyed by ``(analysis_key, input_index)``; ``analysis_key`` should
identify the model + dataset (+ analysis) whose input indices the marks
refer to.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["MarkStore", "MARKS"]

#: Allowed mark values.
MARKS = ("wrong", "right", "unsure")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS marks (
    analysis_key TEXT NOT NULL,
    input_index  INTEGER NOT NULL,
    mark         TEXT NOT NULL CHECK (mark IN ('wrong', 'right', 'unsure')),
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (analysis_key, input_index)
) WITHOUT ROWID
"""


def _check_key(key) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"analysis key must be a non-empty str, got {key!r}")
    return key


def _check_index(index) -> int:
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"input index must be a non-negative int, got {index!r}")
    return int(index)


def _check_mark(mark) -> str | None:
    if mark is not None and mark not in MARKS:
        raise ValueError(f"mark must be one of {MARKS} or None (to delete), got {mark!r}")
    return mark


class MarkStore:
    """User marks on inputs, stored in the SQLite file ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Database file; parent directories are created.  Several
        ``MarkStore`` objects, in one or many processes, may use the same file.
    timeout : float, default 10.0
        Seconds to wait for another writer's lock before raising
        ``sqlite3.OperationalError``.
    """

    def __init__(self, path, timeout: float = 10.0):
        path = os.fspath(path)
        if not path or path == ":memory:":
            raise ValueError("path must name a database file (an in-memory store would not be durable)")
        parent = os.path.dirname(os.path.abspath(path))
        from analysis.store import private_makedirs

        private_makedirs(parent)  # private user data: folders it creates are 0700
        self.path = path
        self.timeout = float(timeout)
        with closing(self._connect()) as con:
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OSError(f"could not switch {path!r} to WAL mode (got {mode!r}); is it on a network filesystem?")
            with con:
                con.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"MarkStore({self.path!r})"

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.timeout)
        con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        con.execute("PRAGMA synchronous = NORMAL")
        return con

    def set(self, key: str, index: int, mark: str | None) -> None:
        """Set (or with ``mark=None`` delete) the mark of one input.

        Parameters
        ----------
        key : str
            Analysis key.
        index : int >= 0
            Input index.
        mark : {"wrong", "right", "unsure"} or None
        """
        self.set_many(key, [index], mark)

    def set_many(self, key: str, indices: Iterable[int], mark: str | None) -> None:
        """Give many inputs the same mark (or delete theirs) in one transaction.

        Parameters
        ----------
        key : str
        indices : iterable of int >= 0
        mark : {"wrong", "right", "unsure"} or None
        """
        key, mark = _check_key(key), _check_mark(mark)
        idx = [_check_index(i) for i in indices]
        now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        with closing(self._connect()) as con, con:
            if mark is None:
                con.executemany("DELETE FROM marks WHERE analysis_key = ? AND input_index = ?",
                                [(key, i) for i in idx])
            else:
                con.executemany(
                    "INSERT INTO marks (analysis_key, input_index, mark, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (analysis_key, input_index) "
                    "DO UPDATE SET mark = excluded.mark, updated_at = excluded.updated_at",
                    [(key, i, mark, now) for i in idx])

    def get(self, key: str, index: int) -> str | None:
        """Mark of one input, or None when unmarked."""
        key, index = _check_key(key), _check_index(index)
        with closing(self._connect()) as con:
            row = con.execute("SELECT mark FROM marks WHERE analysis_key = ? AND input_index = ?",
                              (key, index)).fetchone()
        return None if row is None else row[0]

    def get_all(self, key: str) -> dict[int, str]:
        """All marks of an analysis as ``{input_index: mark}`` (ascending index)."""
        key = _check_key(key)
        with closing(self._connect()) as con:
            rows = con.execute("SELECT input_index, mark FROM marks WHERE analysis_key = ? ORDER BY input_index",
                               (key,)).fetchall()
        return {int(i): m for i, m in rows}

    def updated_at(self, key: str) -> dict[int, str]:
        """When each mark was last set, ISO-8601 UTC, as ``{input_index: timestamp}``."""
        key = _check_key(key)
        with closing(self._connect()) as con:
            rows = con.execute("SELECT input_index, updated_at FROM marks WHERE analysis_key = ?", (key,)).fetchall()
        return {int(i): t for i, t in rows}

    def export_csv(self, key: str, rows: Sequence[Mapping], index_field: str = "index",
                   mark_field: str = "mark") -> str:
        """CSV text of ranking rows with the user's marks as an extra column.

        Parameters
        ----------
        key : str
            Analysis key whose marks are merged in.
        rows : sequence of mapping
            Ranking rows (e.g. ``{"index": 17, "score": 0.93, ...}``), written
            in the given order; each must hold ``index_field``.
        index_field : str, default "index"
            Column holding the input index.
        mark_field : str, default "mark"
            Name of the added column (empty where unmarked); must not already
            be a column of ``rows``.

        Returns
        -------
        str
            CSV with a header: the columns of ``rows`` in first-seen order,
            then ``mark_field``.  Missing values are empty.
        """
        marks = self.get_all(key)
        columns: list[str] = []
        seen: set = set()
        for n, row in enumerate(rows):
            if not isinstance(row, Mapping) or index_field not in row:
                raise ValueError(f"row {n} must be a mapping with an {index_field!r} entry, got {row!r}")
            for col in row:
                if col not in seen:
                    seen.add(col)
                    columns.append(col)
        if not columns:
            columns = [index_field]
        if mark_field in seen:
            raise ValueError(f"rows already have a {mark_field!r} column; pass another mark_field")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[*columns, mark_field], restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            idx = row[index_field]
            mark = marks.get(_check_index(idx), "") if idx is not None else ""
            writer.writerow({**row, mark_field: mark})
        return buf.getvalue()
