"""The knowledge base: the meta-dataset as Parquet tables with a manifest.

Layout of a knowledge-base folder (the shipped one is ``metadata/``)::

    datasets.parquet        one row per dataset (name, source, OpenML id, sizes, task, ...)
    metafeatures.parquet    one row per dataset, one column per meta-feature
    configurations.parquet  family, task, config_id, params (JSON), origin
    evaluations.parquet     one row per (dataset, family, config_id, fold): metrics, status
    manifest.json           format version, library versions, protocol, counts, checksums

Readers require only the columns they use, so tables may gain columns; a manifest whose
``format_version`` is outside what this version reads raises
:class:`~automl_meta.exceptions.KnowledgeBaseVersionError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta.exceptions import KnowledgeBaseError, KnowledgeBaseVersionError

FORMAT_VERSION = 1
MIN_FORMAT_VERSION = 1
TABLES = ("datasets", "metafeatures", "configurations", "evaluations")
REQUIRED_COLUMNS = {
    "datasets": ("name", "task", "n_rows", "n_features"),
    "metafeatures": ("dataset",),
    "configurations": ("family", "task", "config_id", "params"),
    "evaluations": ("dataset", "family", "config_id", "fold", "status"),
}
ENV_VAR = "AUTOML_META_KNOWLEDGE_BASE"


def default_path() -> Path:
    """Where the shipped knowledge base is: ``$AUTOML_META_KNOWLEDGE_BASE``, the source
    checkout's ``metadata/``, or the copy installed under ``<prefix>/share/automl_meta``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    checkout = Path(__file__).resolve().parents[2] / "metadata"
    if (checkout / "manifest.json").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "automl_meta" / "metadata"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import lightgbm
    import optuna
    import sklearn

    from automl_meta import __version__

    return {"automl_meta": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "lightgbm": lightgbm.__version__, "optuna": optuna.__version__}


@dataclass
class KnowledgeBase:
    """Datasets, their meta-features and the evaluations of configurations on them.

    Example
    -------
    >>> from automl_meta import KnowledgeBase
    >>> kb = KnowledgeBase.load()  # the shipped knowledge base  # doctest: +SKIP
    >>> kb.scores("roc_auc").head()  # doctest: +SKIP
    """

    datasets: pd.DataFrame
    metafeatures: pd.DataFrame
    configurations: pd.DataFrame
    evaluations: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self):
        for name in TABLES:
            frame = getattr(self, name)
            if not isinstance(frame, pd.DataFrame):
                raise KnowledgeBaseError(f"{name} must be a DataFrame, got {type(frame).__name__}")
            missing = [c for c in REQUIRED_COLUMNS[name] if c not in frame.columns]
            if missing:
                raise KnowledgeBaseError(f"knowledge base table {name!r} lacks columns {missing}")

    # -- loading ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, verify: bool = True) -> KnowledgeBase:
        """Load a knowledge base folder (the shipped one when ``path`` is None).

        Raises
        ------
        KnowledgeBaseError
            Missing folder or file, checksum mismatch, unreadable table.
        KnowledgeBaseVersionError
            Written in a format this version cannot read (too old or too new).
        """
        folder = Path(path) if path is not None else default_path()
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise KnowledgeBaseError(
                f"no knowledge base at {folder} (manifest.json missing); build one with "
                "'automl-meta build ... --export DIR'"
            )
        try:
            manifest = json.loads(manifest_path.read_text())
            version = int(manifest["format_version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise KnowledgeBaseError(f"{manifest_path} is corrupt: {exc}") from exc
        if version > FORMAT_VERSION:
            raise KnowledgeBaseVersionError(
                f"knowledge base {folder} has format {version}, newer than this automl_meta reads"
                f" ({FORMAT_VERSION}); upgrade automl_meta"
            )
        if version < MIN_FORMAT_VERSION:
            raise KnowledgeBaseVersionError(
                f"knowledge base {folder} has format {version}, too old for this automl_meta "
                f"(reads {MIN_FORMAT_VERSION} to {FORMAT_VERSION}); rebuild it with "
                "'automl-meta build --export'"
            )
        tables = {}
        for name in TABLES:
            file = folder / f"{name}.parquet"
            if not file.is_file():
                raise KnowledgeBaseError(f"knowledge base {folder} lacks {file.name}")
            expected = manifest.get("checksums", {}).get(file.name)
            if verify and expected and _sha256(file) != expected:
                raise KnowledgeBaseError(
                    f"{file} does not match its checksum in manifest.json: corrupt or modified"
                )
            try:
                tables[name] = pd.read_parquet(file)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
                raise KnowledgeBaseError(f"{file} cannot be read: {exc}") from exc
        return cls(**tables, manifest=manifest, path=folder)

    @classmethod
    def from_store(cls, store) -> KnowledgeBase:
        """Read a builder's :class:`~automl_meta.metadataset.store.Store` into memory."""
        datasets = store.table("datasets").sort_values("name", ignore_index=True)
        rows = store.table("metafeatures")
        vectors = pd.DataFrame([json.loads(v) for v in rows["vector"]], dtype="float64")
        metafeatures = pd.concat([rows[["dataset"]], vectors], axis=1)
        configurations = store.table("configurations")
        evaluations = store.table("evaluations").drop(columns=["finished_at"])
        protocol = store.get_meta("protocol")
        manifest = {"protocol": json.loads(protocol) if protocol else None}
        return cls(datasets, metafeatures, configurations, evaluations, manifest)

    # -- writing ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, built_with: str = "") -> Path:
        """Write the Parquet tables and manifest; replaces an existing knowledge base.

        Tables are written to a temporary folder first and moved in one by one, the
        manifest (with checksums) last, so a crash never leaves a manifest that vouches
        for a half-written table.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        checksums = {}
        with tempfile.TemporaryDirectory(dir=folder, prefix=".tmp-") as tmp:
            for name in TABLES:
                file = Path(tmp) / f"{name}.parquet"
                getattr(self, name).to_parquet(file, index=False, compression="zstd")
                checksums[file.name] = _sha256(file)
            manifest = {
                **{k: v for k, v in self.manifest.items() if k not in ("checksums",)},
                "format_version": FORMAT_VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "versions": _versions(),
                "built_with": built_with or self.manifest.get("built_with", ""),
                "counts": self.counts(),
                "checksums": checksums,
            }
            (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            for name in TABLES:
                os.replace(Path(tmp) / f"{name}.parquet", folder / f"{name}.parquet")
            os.replace(Path(tmp) / "manifest.json", folder / "manifest.json")
        self.manifest, self.path = manifest, folder
        return folder

    # -- views --------------------------------------------------------------------------

    def counts(self) -> dict:
        evaluations = self.evaluations.drop_duplicates(["dataset", "family", "config_id"])
        return {
            "datasets": int(len(self.datasets)),
            "evaluations": int(len(evaluations)),
            "failed_evaluations": int((evaluations["status"] != "ok").sum()),
            "configurations": int(len(self.configurations)),
        }

    def scores(self, metric: str | None = None) -> pd.DataFrame:
        """Mean fold score per (dataset, family, config_id) with task, status and params.

        ``metric`` defaults to each task's default metric (ROC AUC, RMSE). Failed
        evaluations have a NaN score.
        """
        from automl_meta.evaluation.metrics import DEFAULT_METRIC, METRICS

        if metric is not None and metric not in METRICS:
            raise KnowledgeBaseError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
        ev = self.evaluations.merge(self.datasets[["name", "task"]], left_on="dataset",
                                    right_on="name", how="inner")
        if metric is None:
            ev["score"] = np.where(ev["task"] == "classification",
                                   ev[DEFAULT_METRIC["classification"]],
                                   ev[DEFAULT_METRIC["regression"]])
        else:
            ev["score"] = ev[metric]
        ev.loc[ev["status"] != "ok", "score"] = np.nan
        grouped = ev.groupby(["dataset", "family", "config_id"], as_index=False).agg(
            task=("task", "first"), status=("status", "first"), score=("score", "mean"),
            fit_seconds=("fit_seconds", "sum"))
        return grouped.merge(self.configurations[["family", "task", "config_id", "params"]],
                             on=["family", "task", "config_id"], how="left")
