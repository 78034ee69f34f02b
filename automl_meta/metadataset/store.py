"""The meta-dataset store: SQLite in WAL mode, written one evaluation at a time.

Every evaluation's fold rows land in one transaction, keyed by (dataset, family,
config_id, fold), so a killed builder loses at most the evaluations in flight and a
restarted one neither repeats nor duplicates finished work. Builders sharing a store
claim each evaluation before running it; a claim of a dead process (same host, pid
gone) or past its lease is taken over.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from automl_meta.evaluation import METRICS, EvaluationResult
from automl_meta.exceptions import KnowledgeBaseError

STORE_FORMAT = 1
METRIC_COLUMNS = tuple(METRICS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY, source TEXT, openml_id INTEGER, task TEXT NOT NULL,
    n_rows INTEGER, n_features INTEGER, n_classes INTEGER, n_numeric INTEGER,
    n_categorical INTEGER, missing_ratio REAL, n_rows_used INTEGER,
    target_fingerprint TEXT, data_fingerprint TEXT, added_at REAL);
CREATE TABLE IF NOT EXISTS metafeatures (
    dataset TEXT PRIMARY KEY REFERENCES datasets(name), vector TEXT NOT NULL,
    nan_reasons TEXT, seconds REAL);
CREATE TABLE IF NOT EXISTS configurations (
    family TEXT NOT NULL, task TEXT NOT NULL, config_id INTEGER NOT NULL,
    params TEXT NOT NULL, origin TEXT NOT NULL, PRIMARY KEY (family, task, config_id));
CREATE TABLE IF NOT EXISTS evaluations (
    dataset TEXT NOT NULL, family TEXT NOT NULL, config_id INTEGER NOT NULL,
    fold INTEGER NOT NULL, status TEXT NOT NULL,
    {", ".join(f"{m} REAL" for m in METRIC_COLUMNS)},
    fit_seconds REAL, predict_seconds REAL, n_rows INTEGER, error TEXT, finished_at REAL,
    PRIMARY KEY (dataset, family, config_id, fold));
CREATE TABLE IF NOT EXISTS claims (
    dataset TEXT NOT NULL, family TEXT NOT NULL, config_id INTEGER NOT NULL,
    owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (dataset, family, config_id));
"""


def pid_alive(pid: int) -> bool:
    """Whether a process of this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """A meta-dataset store at ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise KnowledgeBaseError(f"{self.path} exists and is not a store file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        with self._connect() as conn:
            self._init(conn)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise KnowledgeBaseError(f"cannot open the store {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            yield conn
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise KnowledgeBaseError(f"store {self.path}: {exc}") from exc
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _init(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key = 'store_format'").fetchone()
        if row is None:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('store_format', ?)",
                         (str(STORE_FORMAT),))
        elif int(row[0]) > STORE_FORMAT:
            raise KnowledgeBaseError(
                f"store {self.path} has format {row[0]}, newer than this version "
                f"({STORE_FORMAT}); upgrade automl_meta"
            )

    # -- key/value settings -------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- datasets and meta-features -----------------------------------------------------

    def add_dataset(self, row: dict) -> None:
        """Register a dataset unless already there."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._transaction() as conn:
            conn.execute(f"INSERT OR IGNORE INTO datasets ({columns}) VALUES ({marks})",
                         tuple(row.values()))

    def add_metafeatures(self, dataset: str, values: dict, nan_reasons: dict,
                         seconds: float) -> None:
        """Record (or replace) a dataset's meta-feature vector."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO metafeatures VALUES (?, ?, ?, ?)",
                         (dataset, json.dumps(_jsonable(values)), json.dumps(nan_reasons),
                          seconds))

    def dataset_names(self) -> set[str]:
        with self._connect() as conn:
            return {r[0] for r in conn.execute("SELECT name FROM datasets")}

    # -- configurations -----------------------------------------------------------------

    def add_configurations(self, rows: Iterable[tuple[str, str, int, dict, str]]) -> None:
        """Record (family, task, config_id, params, origin) rows; existing ids must agree."""
        with self._transaction() as conn:
            for family, task, config_id, params, origin in rows:
                text = json.dumps(params, sort_keys=True)
                found = conn.execute(
                    "SELECT params FROM configurations WHERE family=? AND task=? AND config_id=?",
                    (family, task, config_id)).fetchone()
                if found is None:
                    conn.execute("INSERT INTO configurations VALUES (?, ?, ?, ?, ?)",
                                 (family, task, config_id, text, origin))
                elif found[0] != text:
                    raise KnowledgeBaseError(
                        f"store {self.path}: configuration {family}/{task}/{config_id} exists "
                        "with other parameters; use the seed and design the store was built with"
                    )

    # -- evaluations and claims ---------------------------------------------------------

    def finished(self) -> set[tuple[str, str, int]]:
        """The (dataset, family, config_id) evaluations already written."""
        with self._connect() as conn:
            return set(conn.execute(
                "SELECT DISTINCT dataset, family, config_id FROM evaluations"))

    def claim(self, dataset: str, family: str, config_id: int, lease: float) -> bool:
        """Reserve an evaluation for this builder; False when done or held by a live one."""
        now = time.time()
        host, pid = socket.gethostname(), os.getpid()
        with self._transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM evaluations WHERE dataset=? AND family=? AND config_id=? LIMIT 1",
                (dataset, family, config_id)).fetchone():
                return False
            held = conn.execute(
                "SELECT owner, host, pid, expires FROM claims "
                "WHERE dataset=? AND family=? AND config_id=?",
                (dataset, family, config_id)).fetchone()
            if held is not None:
                owner, h, p, expires = held
                dead = h == host and p != pid and not pid_alive(p)
                if owner != self.owner and expires > now and not dead:
                    return False
            conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (dataset, family, config_id, self.owner, host, pid, now + lease))
        return True

    def release(self, dataset: str, family: str, config_id: int) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM claims WHERE dataset=? AND family=? AND config_id=? "
                         "AND owner=?", (dataset, family, config_id, self.owner))

    def write_evaluation(self, dataset: str, config_id: int, result: EvaluationResult,
                         n_folds: int) -> bool:
        """Write one evaluation's fold rows atomically; False if it was already there."""
        now = time.time()
        rows = []
        for fold in range(n_folds):
            scores = [_fold_value(result.fold_scores.get(m), fold) for m in METRIC_COLUMNS]
            rows.append((
                dataset, result.family, config_id, fold, result.status, *scores,
                _fold_value(result.fit_seconds, fold), _fold_value(result.predict_seconds, fold),
                result.n_rows, result.error, now,
            ))
        marks = ", ".join("?" for _ in rows[0])
        with self._transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM evaluations WHERE dataset=? AND family=? AND config_id=? LIMIT 1",
                (dataset, result.family, config_id)).fetchone():
                written = False
            else:
                conn.executemany(f"INSERT INTO evaluations VALUES ({marks})", rows)
                written = True
            conn.execute("DELETE FROM claims WHERE dataset=? AND family=? AND config_id=?",
                         (dataset, result.family, config_id))
        return written

    def import_knowledge_base(self, kb) -> int:
        """Copy an exported knowledge base's rows in (existing rows win); return evaluations added.

        This is how a build resumes on a machine that has only the Parquet export. Only
        evaluations of the knowledge base's own protocol are copied, not those of its
        extensions (:meth:`KnowledgeBase.extend`), which belong to other stores.
        """
        protocol = kb.manifest.get("protocol")
        evaluations = kb.evaluations
        if protocol is not None and "max_rows" in evaluations.columns:
            evaluations = evaluations[evaluations["max_rows"] == protocol["max_rows"]]
        if protocol is not None and self.get_meta("protocol") is None:
            self.set_meta("protocol", json.dumps(protocol, sort_keys=True))
        columns = [c for c in _columns("datasets") if c in kb.datasets.columns]
        with self._transaction() as conn:
            before = conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
            conn.executemany(
                f"INSERT OR IGNORE INTO datasets ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                _records(kb.datasets[columns]))
            vectors = kb.metafeatures.set_index("dataset")
            conn.executemany(
                "INSERT OR IGNORE INTO metafeatures (dataset, vector) VALUES (?, ?)",
                [(name, json.dumps(_jsonable(row.to_dict()))) for name, row in vectors.iterrows()])
            conn.executemany(
                "INSERT OR IGNORE INTO configurations VALUES (?, ?, ?, ?, ?)",
                _records(kb.configurations[["family", "task", "config_id", "params", "origin"]]))
            columns = [c for c in _columns("evaluations") if c in evaluations.columns]
            conn.executemany(
                f"INSERT OR IGNORE INTO evaluations ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                _records(evaluations[columns]))
            after = conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        return after - before

    # -- reading ------------------------------------------------------------------------

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as a DataFrame (``datasets``, ``evaluations``, ...)."""
        if name not in ("meta", "datasets", "metafeatures", "configurations", "evaluations",
                        "claims"):
            raise ValueError(f"no table {name!r} in a store")
        with self._connect() as conn:
            return pd.read_sql_query(f"SELECT * FROM {name}", conn)

    def counts(self) -> dict[str, int]:
        with self._connect() as conn:
            datasets = conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0]
            evaluations = conn.execute(
                "SELECT COUNT(*) FROM (SELECT DISTINCT dataset, family, config_id "
                "FROM evaluations)").fetchone()[0]
            failed = conn.execute(
                "SELECT COUNT(*) FROM (SELECT DISTINCT dataset, family, config_id "
                "FROM evaluations WHERE status != 'ok')").fetchone()[0]
        return {"datasets": datasets, "evaluations": evaluations, "failed": failed}


def _columns(table: str) -> list[str]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(_SCHEMA)
    names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    conn.close()
    return names


def _records(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain Python values (None for missing), as sqlite3 wants them."""
    frame = frame.astype(object).where(frame.notna(), None)
    return [tuple(v.item() if hasattr(v, "item") else v for v in row)
            for row in frame.itertuples(index=False)]


def _fold_value(values, fold: int) -> float | None:
    if not values or fold >= len(values):
        return None
    value = float(values[fold])
    return value if math.isfinite(value) else None


def _jsonable(values: dict) -> dict:
    return {k: (None if v is None or not math.isfinite(float(v)) else float(v))
            for k, v in values.items()}
