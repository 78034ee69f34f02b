"""The knowledge base: the meta-dataset as Parquet tables with a manifest.

Layout of a knowledge-base folder (the shipped one is ``metadata/``)::

    datasets.parquet        one row per dataset (name, source, OpenML id, sizes, task, ...)
    metafeatures.parquet    one row per dataset, one column per meta-feature
    configurations.parquet  family, task, config_id, params (JSON), origin
    evaluations.parquet     one row per (dataset, family, config_id, max_rows, fold):
                            metrics, status, and the protocol's row cap ``max_rows``
    manifest.json           format version, library versions, protocol, counts, checksums

A knowledge base may hold evaluations of several protocols (:meth:`KnowledgeBase.extend`):
the base one on every dataset, and for example a larger-sample one (a higher
``max_rows``) on the datasets the base subsampled, so that the meta-learner sees how the
best configurations change with the number of rows.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution

from automl_meta.exceptions import (
    DataValidationError,
    KnowledgeBaseError,
    KnowledgeBaseVersionError,
)

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
            checksums = dict(manifest.get("checksums") or {})
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
            expected = checksums.get(file.name)
            if verify and expected and _sha256(file) != expected:
                raise KnowledgeBaseError(
                    f"{file} does not match its checksum in manifest.json: corrupt or modified"
                )
            try:
                tables[name] = pd.read_parquet(file)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
                raise KnowledgeBaseError(f"{file} cannot be read: {exc}") from exc
        protocol = manifest.get("protocol")
        if "max_rows" not in tables["evaluations"].columns and isinstance(protocol, dict) \
                and "max_rows" in protocol:  # exported before evaluations recorded it
            tables["evaluations"]["max_rows"] = protocol["max_rows"]
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
        if protocol:
            evaluations["max_rows"] = manifest["protocol"]["max_rows"]
        return cls(datasets, metafeatures, configurations, evaluations, manifest)

    def extend(self, other: KnowledgeBase) -> KnowledgeBase:
        """This knowledge base plus the evaluations of ``other``, made with another protocol.

        ``other`` is typically a larger-sample build (``automl-meta build --max-rows 8000
        --min-rows 3000``) of some of this knowledge base's datasets, with the same
        designs of configurations. Datasets and meta-features stay this knowledge base's;
        the manifest lists ``other``'s protocol under ``extensions``.

        Raises
        ------
        KnowledgeBaseError
            ``other`` has datasets this one lacks, configurations that differ from this
            one's under the same id, evaluations without a protocol's ``max_rows``, or a
            ``max_rows`` this knowledge base already holds.
        """
        if not isinstance(other, KnowledgeBase):
            raise DataValidationError(f"can only extend by a KnowledgeBase, got "
                                      f"{type(other).__name__}")
        unknown = sorted(set(other.evaluations["dataset"]) - set(self.datasets["name"]))
        if unknown:
            raise KnowledgeBaseError(f"the extension has datasets the knowledge base lacks: "
                                     f"{unknown[:5]}")
        keys = ["family", "task", "config_id"]
        both = self.configurations.merge(other.configurations, on=keys, suffixes=("", "_other"))
        differ = both[both["params"] != both["params_other"]]
        if not differ.empty:
            first = differ.iloc[0]
            raise KnowledgeBaseError(
                f"the extension's configuration {first['family']} {first['task']} "
                f"#{first['config_id']} differs from the knowledge base's: build it with the "
                "same --configs and --seed")
        for kb in (self, other):
            if "max_rows" not in kb.evaluations.columns or kb.evaluations["max_rows"].isna().any():
                raise KnowledgeBaseError(
                    "only built knowledge bases (evaluations with a protocol's max_rows) can "
                    "be combined")
        clash = set(other.evaluations["max_rows"]) & set(self.evaluations["max_rows"])
        if clash:
            raise KnowledgeBaseError(f"both hold evaluations with max_rows={sorted(clash)}")
        extra = other.configurations.merge(self.configurations[keys], on=keys, how="left",
                                           indicator=True)
        configurations = pd.concat(
            [self.configurations, extra[extra["_merge"] == "left_only"].drop(columns="_merge")],
            ignore_index=True)
        manifest = dict(self.manifest)
        manifest["extensions"] = [*manifest.get("extensions", []),
                                  other.manifest.get("protocol"),
                                  *other.manifest.get("extensions", [])]
        return KnowledgeBase(self.datasets, self.metafeatures, configurations,
                             pd.concat([self.evaluations, other.evaluations], ignore_index=True),
                             manifest, self.path)

    # -- writing ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, built_with: str = "") -> Path:
        """Write the Parquet tables and manifest; replaces an existing knowledge base.

        Tables are written to a temporary folder first and moved in one by one, the
        manifest (with checksums) last, so a crash never leaves a manifest that vouches
        for a half-written table.

        Raises
        ------
        KnowledgeBaseError
            The folder cannot be written (read-only, disk full); a knowledge base already
            there is left as it was.
        """
        folder = Path(path)
        try:
            manifest = self._write(folder, built_with)
        except OSError as exc:
            raise KnowledgeBaseError(f"cannot write the knowledge base to {folder}: {exc}") \
                from exc
        self.manifest, self.path = manifest, folder
        return folder

    def _write(self, folder: Path, built_with: str) -> dict:
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
        return manifest

    # -- views --------------------------------------------------------------------------

    def subset(self, datasets: Sequence[str]) -> KnowledgeBase:
        """The same knowledge base restricted to ``datasets`` (names), for example the
        training folds of a benchmark; configurations and the manifest are kept."""
        names = set(datasets)
        unknown = names - set(self.datasets["name"])
        if unknown:
            raise KnowledgeBaseError(f"not in the knowledge base: {sorted(unknown)[:5]}")
        return KnowledgeBase(
            self.datasets[self.datasets["name"].isin(names)].reset_index(drop=True),
            self.metafeatures[self.metafeatures["dataset"].isin(names)].reset_index(drop=True),
            self.configurations,
            self.evaluations[self.evaluations["dataset"].isin(names)].reset_index(drop=True),
            dict(self.manifest), self.path)

    def __repr__(self) -> str:
        # The dataclass's own repr would print all four tables and the manifest.
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items())
        where = "" if self.path is None else f"{str(self.path)!r}, "
        return f"KnowledgeBase({where}{counts})"

    def counts(self) -> dict:
        evaluations = self.evaluations.drop_duplicates(
            [c for c in ("dataset", "family", "config_id", "max_rows")
             if c in self.evaluations.columns])
        return {
            "datasets": int(len(self.datasets)),
            "evaluations": int(len(evaluations)),
            "failed_evaluations": int((evaluations["status"] != "ok").sum()),
            "configurations": int(len(self.configurations)),
        }

    def scores(self, metric: str | None = None) -> pd.DataFrame:
        """Mean fold score per (dataset, max_rows, family, config_id) with task, status and
        params.

        ``metric`` defaults to each task's default metric (ROC AUC, RMSE). Failed
        evaluations have a NaN score. The ``loss`` column orients every score one way
        (lower is better): the metric's loss, or for a table imported with
        :meth:`from_frame` the loss recorded there. ``max_rows`` is the row cap of the
        protocol that made the evaluation and ``rows`` the rows it was made on (the
        dataset's, up to that cap); both are NaN for an imported table.
        ``fit_seconds`` and ``predict_seconds`` are summed over the folds.
        """
        from automl_meta.evaluation.metrics import DEFAULT_METRIC, METRICS

        if metric is not None and metric not in METRICS:
            raise KnowledgeBaseError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
        ev = self.evaluations.merge(self.datasets[["name", "task", "n_rows"]].rename(
            columns={"n_rows": "dataset_rows"}), left_on="dataset", right_on="name",
            how="inner")
        if "max_rows" not in ev.columns:
            ev["max_rows"] = np.nan
        imported = ev["loss"].notna() if "loss" in ev.columns else pd.Series(False, ev.index)
        if metric is None:
            names = np.where(ev["task"] == "classification", DEFAULT_METRIC["classification"],
                             DEFAULT_METRIC["regression"])
            score = np.full(len(ev), np.nan)
            for name in np.unique(names):
                if name in ev.columns:
                    rows = names == name
                    score[rows] = ev.loc[rows, name].to_numpy(dtype=float)
            ev["score"] = np.where(imported, ev["score"] if "score" in ev.columns else np.nan,
                                   score)
            loss = np.where(ev["task"] == "classification",
                            METRICS[DEFAULT_METRIC["classification"]].loss(ev["score"]),
                            METRICS[DEFAULT_METRIC["regression"]].loss(ev["score"]))
        else:
            ev["score"] = ev[metric] if metric in ev.columns else np.nan
            loss = METRICS[metric].loss(ev["score"].to_numpy(dtype=float))
        ev["loss"] = np.where(imported, ev["loss"] if imported.any() else np.nan, loss)
        ev.loc[ev["status"] != "ok", ["score", "loss"]] = np.nan
        if "predict_seconds" not in ev.columns:  # a table made by hand
            ev["predict_seconds"] = np.nan
        grouped = ev.groupby(["dataset", "max_rows", "family", "config_id"], as_index=False,
                             dropna=False).agg(
            task=("task", "first"), status=("status", "first"), score=("score", "mean"),
            loss=("loss", "mean"), fit_seconds=("fit_seconds", "sum"),
            predict_seconds=("predict_seconds", "sum"),
            dataset_rows=("dataset_rows", "first"))
        grouped["rows"] = np.fmin(grouped.pop("dataset_rows").astype(float),
                                  grouped["max_rows"].astype(float))
        grouped.loc[grouped["max_rows"].isna(), "rows"] = np.nan
        return grouped.merge(self.configurations[["family", "task", "config_id", "params"]],
                             on=["family", "task", "config_id"], how="left")

    # -- importing ----------------------------------------------------------------------

    @classmethod
    def from_frame(cls, df: pd.DataFrame, task_column: str, score_column: str,
                   params: Sequence[str] | str, metafeatures: pd.DataFrame | None = None, *,
                   family_column: str | None = None, task: str = "classification",
                   metric: str | None = None, maximize: bool | None = None,
                   distributions: Mapping[str, BaseDistribution] | None = None,
                   ) -> KnowledgeBase:
        """Import an evaluation table from elsewhere: one row per (task, configuration).

        The result trains a :class:`~automl_meta.metalearner.MetaLearner` like a built
        knowledge base. Configurations of the built-in families (a ``family_column``
        naming them, parameters with their names) are checked against their spaces; any
        other search space becomes a *custom* family (named by ``family_column``, or
        ``"custom"``) whose space is ``distributions`` or, when not given, inferred from
        the values (numbers: their range, log scale when positive over two decades;
        anything else: categorical).

        Parameters
        ----------
        df : DataFrame
            The evaluations.
        task_column : str
            Names the task (dataset, study) each row was evaluated on.
        score_column : str
            The score; NaN marks a failed evaluation.
        params : list of str, or str
            Hyperparameter columns (NaN: inactive), or one column of dicts / JSON.
        metafeatures : DataFrame or None
            Raw meta-features, one row per task: indexed by task name or with a
            ``dataset`` column. None: tasks are told apart by their trials only.
        family_column : str or None
            Model family of each row; None: every row is one custom family.
        task : {"classification", "regression"}
            Problem type of every task (the meta-learner's task bit).
        metric : str or None
            The score's metric, for built-in families (its column is filled too).
        maximize : bool or None
            Whether higher scores are better; None: from ``metric`` (default: the task's
            default metric, ROC AUC or RMSE).

        Raises
        ------
        DataValidationError
            Missing columns, an empty table.
        InvalidParamsError
            Parameters outside a built-in family's space.
        """
        return _from_frame(cls, df, task_column, score_column, params, metafeatures,
                           family_column, task, metric, maximize, distributions)


#: Family name of a custom search space imported without a family column.
CUSTOM_FAMILY = "custom"


def _from_frame(cls, df, task_column, score_column, params, metafeatures, family_column,
                task, metric, maximize, distributions) -> KnowledgeBase:
    from automl_meta.data import TASKS
    from automl_meta.evaluation.metrics import get_metric
    from automl_meta.spaces import FAMILIES, validate_params

    if not isinstance(df, pd.DataFrame) or df.empty:
        raise DataValidationError("from_frame needs a non-empty DataFrame of evaluations")
    if task not in TASKS:
        raise DataValidationError(f"task must be one of {TASKS}, got {task!r}")
    param_columns = [params] if isinstance(params, str) else list(params)
    wanted = [task_column, score_column, *param_columns,
              *([family_column] if family_column else [])]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise DataValidationError(f"from_frame: no columns {missing} in the table; it has "
                                  f"{list(df.columns)}")
    if isinstance(params, str):
        configs = [_config(v, params, row) for row, v in enumerate(df[params])]
    else:
        configs = [{k: _plain(v) for k, v in row.items() if not _is_missing(v)}
                   for row in df[param_columns].to_dict("records")]
    families = (df[family_column].astype(str).tolist() if family_column
                else [CUSTOM_FAMILY] * len(df))
    try:
        scores = pd.to_numeric(df[score_column], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"score column {score_column!r} is not numeric: {exc}") \
            from exc
    if maximize is None:
        maximize = get_metric(metric, task).greater_is_better
    custom_spaces = {}
    for family in sorted(set(families) - set(FAMILIES)):
        given = dict(distributions or {})
        rows = [c for c, f in zip(configs, families, strict=True) if f == family]
        custom_spaces[family] = {**_infer_space(rows), **given}
    keys, config_rows = {}, []
    config_ids = []
    for family, config in zip(families, configs, strict=True):
        if family in FAMILIES:
            config = validate_params(family, task, config)
        text = json.dumps(config, sort_keys=True)
        if (family, text) not in keys:
            keys[(family, text)] = sum(1 for f, _ in keys if f == family)
            config_rows.append({"family": family, "task": task,
                                "config_id": keys[(family, text)], "params": text,
                                "origin": "imported"})
        config_ids.append(keys[(family, text)])
    names = df[task_column].astype(str).to_numpy()
    ok = np.isfinite(scores)
    evaluations = pd.DataFrame({
        "dataset": names, "family": families, "config_id": config_ids,
        "status": np.where(ok, "ok", "failed"), "score": scores,
        "loss": np.where(ok, -scores if maximize else scores, np.nan),
        "fit_seconds": np.nan, "predict_seconds": np.nan,
    })
    if metric is not None:
        evaluations[metric] = scores
    # Repeated evaluations of one configuration on one task become its folds.
    evaluations["fold"] = evaluations.groupby(["dataset", "family", "config_id"]).cumcount()
    datasets = pd.DataFrame({"name": sorted(set(names)), "task": task, "source": "imported",
                             "n_rows": np.nan, "n_features": np.nan})
    if metafeatures is None:
        table = pd.DataFrame({"dataset": datasets["name"], "no_metafeatures": 0.0})
    else:
        table = metafeatures if "dataset" in metafeatures.columns else (
            metafeatures.rename_axis("dataset").reset_index())
        table = table.assign(dataset=table["dataset"].astype(str))
        absent = sorted(set(datasets["name"]) - set(table["dataset"]))
        if absent:
            raise DataValidationError(f"no meta-features for tasks {absent[:5]}")
    manifest = {"imported": {
        "maximize": bool(maximize), "score_column": score_column,
        "spaces": {f: {n: optuna.distributions.distribution_to_json(d)
                       for n, d in space.items()} for f, space in custom_spaces.items()}}}
    return cls(datasets, table, pd.DataFrame(config_rows), evaluations, manifest)


def _config(value, column: str, row: int) -> dict:
    """One configuration of a ``params`` column: a dict, or a JSON object."""
    try:
        config = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise DataValidationError(f"from_frame: row {row} of {column!r} is not valid JSON: "
                                  f"{exc}") from exc
    if not isinstance(config, Mapping):
        raise DataValidationError(f"from_frame: row {row} of {column!r} must be a dict or a "
                                  f"JSON object, got {type(config).__name__}")
    return dict(config)


def custom_spaces(kb: KnowledgeBase) -> dict[str, dict[str, BaseDistribution]]:
    """Search spaces of the custom families of an imported knowledge base."""
    spaces = kb.manifest.get("imported", {}).get("spaces", {})
    return {f: {n: optuna.distributions.json_to_distribution(d) for n, d in space.items()}
            for f, space in spaces.items()}


def _infer_space(configs: list[dict]) -> dict[str, BaseDistribution]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    values: dict[str, list] = {}
    for config in configs:
        for name, value in config.items():
            values.setdefault(name, []).append(value)
    space = {}
    for name, seen in values.items():
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen)
        if not numeric or len(set(seen)) < 2:
            choices = sorted(set(seen), key=repr)
            space[name] = CategoricalDistribution(choices)
            continue
        low, high = float(min(seen)), float(max(seen))
        log = low > 0 and high / low >= 100
        if all(float(v).is_integer() for v in seen):
            space[name] = IntDistribution(int(low), int(high), log=log)
        else:
            space[name] = FloatDistribution(low, high, log=log)
    return space


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
