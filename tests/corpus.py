"""A tiny corpus of CSV files and the ``automl-meta build`` command that builds it, for the
builder's tests (test_metadataset.py) and its fault tests (test_faults.py)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta.metadataset.builder import Protocol

FAMILIES = ["linear", "knn"]
PROTOCOL = Protocol(n_configs=4, cv=2, time_limit=60, memory_limit_mb=None)


def write_corpus(folder: Path, n_datasets: int = 3) -> Path:
    """``n_datasets`` small CSV files (classification and regression in turn) and their
    manifest; returns the manifest's path."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_datasets):
        n = 60 + 10 * i
        X = rng.normal(size=(n, 3))
        frame = pd.DataFrame(X, columns=["a", "b", "c"])
        frame["colour"] = rng.choice(["red", "green", "blue"], size=n)
        task = "regression" if i % 2 else "classification"
        frame["target"] = (X[:, 0] + rng.normal(size=n) if task == "regression"
                           else (X[:, 0] > 0).astype(int))
        path = folder / f"d{i}.csv"
        frame.to_csv(path, index=False)
        rows.append({"name": f"d{i}", "path": path.name, "target": "target", "task": task,
                     "rows": n, "features": 4})
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def expected_evaluations(manifest: Path, protocol: Protocol = PROTOCOL) -> int:
    """The evaluations a build of the whole manifest makes."""
    return len(pd.read_csv(manifest)) * len(FAMILIES) * protocol.n_configs


def build_command(manifest: Path, store: Path, *extra: str) -> list[str]:
    """``automl-meta build`` of the manifest into ``store`` (4 configurations of FAMILIES)."""
    return [sys.executable, "-m", "automl_meta.cli", "build", "--manifest", str(manifest),
            "--store", str(store), "--families", *FAMILIES, "--configs", "4", "--cv", "2",
            "--quiet", *extra]


def n_evaluations(store: Path) -> tuple[int, int]:
    """(distinct evaluations, fold rows) in a store file; (0, 0) while a builder that
    has just created the file has not yet made its tables."""
    with sqlite3.connect(store) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'evaluations'").fetchone():
            return 0, 0
        distinct = conn.execute("SELECT COUNT(*) FROM (SELECT DISTINCT dataset, family, "
                                "config_id FROM evaluations)").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    return distinct, rows
