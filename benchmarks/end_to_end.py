"""End-to-end AutoML benchmark on held-out datasets, under equal time budgets.

automl_meta is compared with FLAML, Optuna TPE and LightGBM defaults under the same
wall-clock budget and ``n_jobs``, and in zero-shot mode with LightGBM defaults and
FLAML's zero-shot defaults.

What it measures. The knowledge base's datasets are split into K folds over dataset
*groups* (near-duplicates share a group, :func:`automl_meta.data.dataset_groups`). For
each chosen fold (``--fold``: one, or several held out in turn and reported together), a
meta-learner is trained on the other folds only, and a temporary knowledge-base folder is
written holding the knowledge base restricted to those training datasets plus that
learner, so neither recommendations nor neighbours can see a test dataset. Each test
dataset of the fold is read from its file through the corpus manifest, optionally
subsampled (``--max-rows``, stratified for classification, seed 0), and split 75/25
(stratified for classification, the run's seed). Every method fits on the training part
and is scored once on the test part with the task's default metric (ROC AUC, one-vs-rest
macro for multiclass; RMSE), through :mod:`automl_meta.evaluation`'s metrics:

- ``automl_meta``: :class:`~automl_meta.estimators.AutoMetaClassifier` /
  ``AutoMetaRegressor`` with the fold's knowledge base, ``time_budget`` = the budget,
  their defaults otherwise (``cv`` as ``--cv`` says; an ensemble of the best trials,
  :data:`ENSEMBLE_SIZE` rounds);
- ``optuna_tpe``: the same estimators with ``knowledge_base=False`` (Optuna TPE over the
  same spaces, family defaults first, no meta-learning; the same ensembling);
- ``flaml``: ``flaml.AutoML`` with ``time_budget``, ``metric`` (``roc_auc``,
  ``roc_auc_ovr`` for multiclass, ``rmse``), ``n_jobs`` and ``seed``; its own defaults
  otherwise;
- ``lightgbm_default``: LightGBM's defaults in the project's pipeline
  (:func:`~automl_meta.spaces.build_pipeline` with ``default_params("lightgbm", task)``),
  budget-free, so it enters every budget's table;
- zero-shot: ``automl_meta_zero_shot`` (``n_trials=1``, no time budget: the top
  recommendation, refit on the training part; ``cv=2`` since its cross-validation score
  decides nothing) against ``lightgbm_default`` and ``flaml_zero_shot``
  (``flaml.default.LGBMClassifier`` / ``LGBMRegressor``: LightGBM with FLAML's
  data-dependent defaults).

A method that crashes is recorded as failed with its error and ranks last on that
dataset; a method that cannot run here (FLAML without its ``automl`` extra) is recorded
as unavailable with the reason and left out of the comparisons. Per budget the report
gives each method's mean rank over the datasets (ties within a relative tolerance of
``TIE_TOLERANCE`` share the rank), the per-dataset test scores, automl_meta's
wins/ties/losses against each other method, and whether the issue's targets are met:
best mean rank at every budget, better than FLAML on at least 60% of the datasets, and
zero-shot better than LightGBM defaults on at least 70%.

    python benchmarks/end_to_end.py --knowledge-base metadata --budgets 30 120
    python benchmarks/end_to_end.py --methods automl_meta_zero_shot lightgbm_default \
        flaml_zero_shot --fold 0 1 2 3 4 --seeds 2 --name end_to_end_zero_shot_all_folds

The first writes benchmarks/results/end_to_end.{json,md} (``--out`` and ``--name`` change
that); the second runs the zero-shot comparison on every dataset of the knowledge base,
each judged by the meta-learner of the other four folds.
Every finished run is appended to a JSONL file under ``--cache`` and skipped when the
same command runs again, so a killed run resumes where it stopped (meta-learners are
cached there too).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from automl_meta.cli import cv_argument
from automl_meta.data import (
    Dataset,
    Schema,
    load_manifest_entry,
    read_manifest,
)
from automl_meta.estimators import AutoMetaClassifier
from automl_meta.evaluation.metrics import DEFAULT_METRIC, get_metric
from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.metalearner import DEFAULT_METHOD

# benchmarks/metalearner.py (group_folds, trained) is imported where needed: it loads torch.
if str(Path(__file__).resolve().parent) not in sys.path:  # imported from elsewhere
    sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Methods run under each wall-clock budget.
BUDGETED = ("automl_meta", "optuna_tpe", "flaml")
#: Methods without a budget (budget ``None`` in the records).
BUDGET_FREE = ("lightgbm_default", "automl_meta_zero_shot", "flaml_zero_shot")
METHODS = BUDGETED + BUDGET_FREE
#: Methods whose results depend on the meta-learner (and its code).
LEARNED = ("automl_meta", "automl_meta_zero_shot")
#: Methods whose trials are validated as ``--cv`` says (our estimators' searches).
VALIDATED = ("automl_meta", "optuna_tpe")
#: Methods run through our estimators or pipelines: their runs depend on the search code
#: (:func:`search_version`).
ESTIMATED = VALIDATED + ("automl_meta_zero_shot", "lightgbm_default")
#: What our estimators' searches refit: their default ``ensemble_size``.
ENSEMBLE_SIZE = inspect.signature(AutoMetaClassifier).parameters["ensemble_size"].default
#: The zero-shot comparison: ours first.
ZERO_SHOT = ("automl_meta_zero_shot", "lightgbm_default", "flaml_zero_shot")
#: Two test scores closer than this, relative to the larger, are a tie.
TIE_TOLERANCE = 1e-4
TEST_SIZE = 0.25
#: A budgeted fit longer than this multiple of its budget is reported as over budget.
OVERRUN = 1.1
#: Shares of the datasets the issue asks for.
FLAML_TARGET = 0.6
ZERO_SHOT_TARGET = 0.7
#: Meta-training steps with --quick (as in benchmarks/metalearner.py --quick).
QUICK_STEPS = {"joint": 600, "reptile": 100, "maml": 50}
QUICK_DEFAULTS = {"budgets": [10, 30], "max_datasets": 6, "max_rows": 2000}
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = ROOT.parent / "shared" / "datasets" / "manifest.csv"


# ---------------------------------------------------------------------------------------
# Running the methods on one dataset


def unavailable_methods() -> dict[str, str]:
    """Methods that cannot run in this environment, with the reason (import error)."""
    reasons = {}
    # flaml.automl's __init__ swallows its ImportError: import the module that raises it.
    for method, module in (("flaml", "flaml.automl.automl"),
                           ("flaml_zero_shot", "flaml.default")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # flaml warns when its automl extra is absent
                __import__(module)
        except ImportError as exc:
            reasons[method] = (f"{module} cannot be imported ({type(exc).__name__}: {exc}); "
                               "install FLAML's AutoML extra: pip install 'flaml[automl]'")
    return reasons


def split(dataset: Dataset, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series,
                                                 pd.Series]:
    """75/25 train/test split, stratified for classification when every class can be."""
    stratify = None
    if dataset.task == "classification" and dataset.y.value_counts().min() >= 2:
        stratify = dataset.y
    parts = train_test_split(dataset.X, dataset.y, test_size=TEST_SIZE, random_state=seed,
                             stratify=stratify)
    return tuple(p.reset_index(drop=True) for p in parts)


def run_keys(name: str, methods: Sequence[str], budgets: Sequence[float],
             seeds: Sequence[int]) -> list[tuple]:
    """The (dataset, method, budget, seed) keys of one dataset; budget None when free."""
    keys = []
    for seed in seeds:
        for method in methods:
            for budget in (budgets if method in BUDGETED else [None]):
                keys.append((name, method, budget, seed))
    return keys


def record_key(record: dict) -> tuple:
    budget = record["budget"]
    return (record["dataset"], record["method"], None if budget is None else float(budget),
            int(record["seed"]))


def _key(name: str, method: str, budget, seed: int) -> tuple:
    return (name, method, None if budget is None else float(budget), int(seed))


def run_dataset(dataset: Dataset, methods: Sequence[str], budgets: Sequence[float],
                seeds: Sequence[int], *, n_jobs: int = 1, knowledge_base=None,
                n_trials: int | None = None, cv: int | float | str = "auto",
                families: Sequence[str] | None = None, done: Iterable[tuple] = (),
                unavailable: dict[str, str] | None = None,
                on_record: Callable[[dict], None] | None = None) -> list[dict]:
    """Fit every method on a train split of ``dataset`` and score it on the test split.

    Parameters
    ----------
    dataset : Dataset
    methods : sequence of str
        Among :data:`METHODS`.
    budgets : sequence of float
        Wall-clock seconds for the methods of :data:`BUDGETED`.
    seeds : sequence of int
        One train/test split and one seed for the methods per value.
    n_jobs : int
        Given to every method.
    knowledge_base : str, Path or None
        The knowledge-base folder of ``automl_meta`` and ``automl_meta_zero_shot``.
    n_trials : int or None
        Also cap the trials of ``automl_meta`` and ``optuna_tpe`` (for tests).
    cv, families
        Passed to the estimators of ``automl_meta`` and ``optuna_tpe``.
    done : iterable of tuple
        (dataset, method, budget, seed) keys to skip (already finished).
    unavailable : dict or None
        Method -> reason: recorded as ``unavailable`` without running.
    on_record : callable or None
        Called with each record as soon as it is finished (e.g. to append it to a file).

    Returns
    -------
    list of dict
        One record per run: dataset, task, method, budget, seed, metric, score,
        fit_seconds, status (``ok``, ``failed`` or ``unavailable``), error, n_train,
        n_test and method details.
    """
    done = {_key(*k) for k in done}
    unavailable = unavailable or {}
    metric = get_metric(DEFAULT_METRIC[dataset.task], dataset.task)
    records = []
    for seed in seeds:
        todo = [k for k in run_keys(dataset.name, methods, budgets, [seed])
                if _key(*k) not in done]
        if not todo:
            continue
        X_train, X_test, y_train, y_test = split(dataset, seed)
        labels = np.sort(y_train.unique()) if dataset.task == "classification" else None
        for _, method, budget, _ in todo:
            record = {"dataset": dataset.name, "task": dataset.task, "method": method,
                      "budget": budget, "seed": seed, "metric": metric.name, "score": None,
                      "fit_seconds": None, "status": "ok", "error": None,
                      "n_train": len(X_train), "n_test": len(X_test), "details": {}}
            if method in unavailable:
                record.update(status="unavailable", error=unavailable[method])
            else:
                start = time.perf_counter()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model, details = fit_method(
                            method, dataset.task, X_train, y_train, budget=budget, seed=seed,
                            n_jobs=n_jobs, knowledge_base=knowledge_base, n_trials=n_trials,
                            cv=cv, families=families)
                        record["fit_seconds"] = time.perf_counter() - start
                        record["details"] = details
                        record["score"] = test_score(model, X_test, y_test, metric, labels)
                    if not math.isfinite(record["score"]):
                        raise ValueError(f"test {metric.name} is not finite")
                except Exception as exc:  # noqa: BLE001 - a crash is a result, not an abort
                    if record["fit_seconds"] is None:
                        record["fit_seconds"] = time.perf_counter() - start
                    record.update(status="failed", score=None,
                                  error=f"{type(exc).__name__}: {exc}\n"
                                        + traceback.format_exc(limit=-3))
            records.append(record)
            if on_record is not None:
                on_record(record)
    return records


def fit_method(method: str, task: str, X: pd.DataFrame, y: pd.Series, *, budget, seed: int,
               n_jobs: int, knowledge_base, n_trials: int | None, cv: int | float | str,
               families: Sequence[str] | None):
    """Fit one method on (X, y); return the fitted model and a dict of details."""
    from automl_meta.estimators import AutoMetaClassifier, AutoMetaRegressor

    classification = task == "classification"
    if method in ("automl_meta", "optuna_tpe", "automl_meta_zero_shot"):
        cls = AutoMetaClassifier if classification else AutoMetaRegressor
        if method == "automl_meta_zero_shot":
            model = cls(time_budget=None, n_trials=1, cv=2, n_jobs=n_jobs, families=families,
                        random_state=seed, knowledge_base=knowledge_base)
        else:
            model = cls(time_budget=budget, n_trials=n_trials, cv=cv, n_jobs=n_jobs,
                        families=families, random_state=seed,
                        knowledge_base=knowledge_base if method == "automl_meta" else False)
        model.fit(X, y)
        board = model.leaderboard_
        return model, {"best_family": model.best_params_["family"],
                       "best_params": _plain(model.best_params_),
                       "best_cv_score": float(model.best_score_), "cv": model.cv_,
                       "trials": int(len(board)),
                       "trials_ok": int((board["status"] == "ok").sum()),
                       "not_refit": int((~model.ensemble_["refit"]).sum())}
    if method == "lightgbm_default":
        from automl_meta.spaces import build_pipeline, default_params

        model = build_pipeline("lightgbm", default_params("lightgbm", task),
                               Schema.from_frame(X), task, seed=seed, n_jobs=n_jobs)
        return model.fit(X, y), {}
    if method == "flaml":
        from flaml import AutoML

        metric = "rmse"
        if classification:
            metric = "roc_auc" if y.nunique() == 2 else "roc_auc_ovr"
        model = AutoML()
        model.fit(X, y, task=task, time_budget=budget, metric=metric, n_jobs=n_jobs, seed=seed,
                  verbose=0)
        return model, _details(lambda: {"best_estimator": model.best_estimator,
                                        "best_config": model.best_config})
    if method == "flaml_zero_shot":
        from flaml.default import LGBMClassifier, LGBMRegressor

        cls = LGBMClassifier if classification else LGBMRegressor
        model = cls(n_jobs=n_jobs, random_state=seed, verbose=-1)
        model.fit(X, y)
        return model, _details(lambda: {"params": {k: v for k, v in model.get_params().items()
                                                   if v is not None}})
    raise ValueError(f"unknown method {method!r}; choose among {METHODS}")


def test_score(model, X: pd.DataFrame, y: pd.Series, metric, labels) -> float:
    """The metric on (X, y): class probabilities aligned on ``labels``, or predictions."""
    if not metric.needs_proba:
        return metric(y.to_numpy(), np.asarray(model.predict(X), dtype=float))
    proba = np.asarray(model.predict_proba(X), dtype=float)
    column = {label: j for j, label in enumerate(labels)}
    aligned = np.zeros((len(X), len(labels)))
    for j, label in enumerate(np.asarray(model.classes_)):
        if label in column:
            aligned[:, column[label]] = proba[:, j]
    return metric(y.to_numpy(), aligned, labels)


def _details(read: Callable[[], dict]) -> dict:
    """What ``read`` returns, JSON-safe; reading details never fails a run."""
    try:
        return _plain(read())
    except Exception as exc:  # noqa: BLE001 - details are informative only
        return {"details_error": f"{type(exc).__name__}: {exc}"}


def _plain(value):
    """JSON-safe copy (numpy scalars to Python, anything odd to its repr)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(
        v, np.generic) else repr(v)))


# ---------------------------------------------------------------------------------------
# Resuming


def load_records(path: Path) -> list[dict]:
    """Records of a JSONL file (a truncated last line from a killed run is skipped)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def finished_keys(records: Iterable[dict], retry_failed: bool = False) -> set[tuple]:
    """Keys that need no new run: ok ones, and failed ones unless ``retry_failed``.

    ``unavailable`` never counts as finished, so a rerun after installing FLAML runs it.
    """
    keep = {"ok"} if retry_failed else {"ok", "failed"}
    return {record_key(r) for r in records if r["status"] in keep}


def current(records: Iterable[dict], version: str, cv, search: str, data: str,
            ensemble_size: int = ENSEMBLE_SIZE) -> list[dict]:
    """``records`` less the runs of :data:`LEARNED` methods made with other meta-learner
    code, meta-feature code or knowledge base (``version``), of :data:`ESTIMATED` methods
    made with other search code (``search``, see :func:`search_version`), of any method
    made with other data-loading code (``data``, see :func:`data_version`), and of
    :data:`VALIDATED` methods made with another ``cv`` (or before runs recorded it) or
    ``ensemble_size`` (1 before runs recorded it): those are run again. A version a record
    does not carry counts as another."""
    return [r for r in records
            if (r["method"] not in LEARNED or r.get("code") == version)
            and (r["method"] not in ESTIMATED or r.get("search") == search)
            and r.get("data") == data
            and (r["method"] not in VALIDATED or (
                r.get("cv") == cv and r.get("ensemble_size", 1) == ensemble_size))]


def _source_digest(files: Iterable[Path]) -> str:
    return hashlib.sha256(json.dumps([f.read_text() for f in files]).encode()).hexdigest()[:16]


def _package_root() -> Path:
    import automl_meta

    return Path(automl_meta.__file__).parent


def search_version() -> str:
    """A digest of the code our estimators' searches run (the estimators, the trials'
    evaluation, the pipelines and spaces): the :data:`ESTIMATED` runs depend on it."""
    root = _package_root()
    return _source_digest(sorted([root / "estimators.py", root / "spaces.py",
                                  *(root / "evaluation").glob("*.py")]))


def evaluation_version() -> str:
    """A digest of the code a configuration's evaluation runs (data preparation, pipelines
    and spaces, cross-validation): what the benchmarks that evaluate configurations
    themselves (sampler.py, families.py) key their caches on."""
    root = _package_root()
    return _source_digest(sorted([root / "data.py", root / "spaces.py",
                                 *(root / "evaluation").glob("*.py")]))


def features_version() -> str:
    """A digest of the meta-feature code, which the :data:`LEARNED` methods' recommendations
    start from."""
    return _source_digest(sorted((_package_root() / "metafeatures").glob("*.py")))


def data_version() -> str:
    """A digest of the code that loads and prepares every method's data (``data.py``)."""
    return _source_digest([_package_root() / "data.py"])


def latest(records: Iterable[dict]) -> list[dict]:
    """One record per key, the last one written."""
    return list({record_key(r): r for r in records}.values())


def append_record(path: Path, record: dict) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------------------------------
# Summaries (pure functions over records)


def outcome(loss_a: float, loss_b: float, tolerance: float = TIE_TOLERANCE) -> int:
    """+1 when ``a`` is better (lower loss), 0 for a tie within the relative tolerance,
    -1 when worse; a failure (infinite loss) loses to any result and ties with another."""
    if loss_a == loss_b:
        return 0
    if math.isinf(loss_a) or math.isinf(loss_b):
        return 1 if loss_b > loss_a else -1
    if abs(loss_a - loss_b) <= tolerance * max(abs(loss_a), abs(loss_b)):
        return 0
    return 1 if loss_a < loss_b else -1


def score_table(records: Sequence[dict], methods: Sequence[str],
                budget: float | None) -> pd.DataFrame:
    """Mean test score over seeds per dataset (rows) and method (columns).

    Records of budgeted methods are taken at ``budget``, the others whatever it is. A
    method whose every seed failed on a dataset gets NaN; a dataset lacking a record of
    some method (not run yet) is left out.
    """
    rows = []
    for r in records:
        if r["method"] not in methods or r["status"] == "unavailable":
            continue
        if r["method"] in BUDGETED and (r["budget"] is None or budget is None
                                        or float(r["budget"]) != float(budget)):
            continue
        rows.append({"dataset": r["dataset"], "method": r["method"],
                     "score": r["score"] if r["status"] == "ok" else np.nan})
    if not rows:
        return pd.DataFrame(columns=list(methods), dtype=float)
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["dataset", "method"])["score"]
    table = grouped.mean().unstack()  # NaN where every seed failed
    present = grouped.size().unstack()
    columns = [m for m in methods if m in table.columns]
    complete = present[columns].notna().all(axis=1)
    return table.loc[complete[complete].index, columns].sort_index().rename_axis(
        index=None, columns=None)


def losses(table: pd.DataFrame, tasks: dict[str, str]) -> pd.DataFrame:
    """Scores turned into losses (lower is better); failures become +inf."""
    out = table.astype(float).copy()
    for dataset in out.index:
        task = tasks[dataset]
        out.loc[dataset] = get_metric(DEFAULT_METRIC[task], task).loss(out.loc[dataset])
    return out.fillna(np.inf)


def ranks(loss: pd.DataFrame, tolerance: float = TIE_TOLERANCE) -> pd.DataFrame:
    """Rank of each method on each dataset (1 = best); ties share the average rank."""
    values = loss.to_numpy()
    out = np.ones_like(values, dtype=float)
    for i, row in enumerate(values):
        for a in range(len(row)):
            for b in range(len(row)):
                if a != b:
                    result = outcome(row[a], row[b], tolerance)
                    out[i, a] += 1.0 if result < 0 else 0.5 if result == 0 else 0.0
    return pd.DataFrame(out, index=loss.index, columns=loss.columns)


def wins_ties_losses(loss: pd.DataFrame, reference: str,
                     tolerance: float = TIE_TOLERANCE) -> dict[str, dict[str, int]]:
    """``reference``'s wins, ties and losses against each other column of ``loss``."""
    wtl = {}
    if reference in loss.columns:
        for other in loss.columns:
            if other != reference:
                results = [outcome(a, b, tolerance) for a, b in
                           zip(loss[reference], loss[other], strict=True)]
                wtl[other] = {"wins": results.count(1), "ties": results.count(0),
                              "losses": results.count(-1)}
    return wtl


def compare(records: Sequence[dict], methods: Sequence[str], budget: float | None,
            reference: str, tolerance: float = TIE_TOLERANCE,
            folds: dict[str, int] | None = None) -> dict:
    """One comparison table: mean ranks, scores and ``reference``'s wins/ties/losses.

    ``folds`` (dataset -> 0-based held-out fold), when the datasets come from more than
    one fold, adds the mean ranks and wins/ties/losses of each fold's datasets
    (``by_fold``, keyed by the 1-based fold)."""
    table = score_table(records, methods, budget)
    tasks = {r["dataset"]: r["task"] for r in records}
    loss = losses(table, tasks)
    rank = ranks(loss, tolerance)
    wtl = wins_ties_losses(loss, reference, tolerance)
    by_fold = {}
    fold_of = [(folds or {}).get(d) for d in loss.index]
    if None not in fold_of and len(set(fold_of)) > 1:
        for f in sorted(set(fold_of)):
            datasets = [d for d, g in zip(loss.index, fold_of, strict=True) if g == f]
            by_fold[str(f + 1)] = {
                "datasets": len(datasets),
                "mean_rank": {m: float(v) for m, v in rank.loc[datasets].mean().items()},
                "wins_ties_losses": wins_ties_losses(loss.loc[datasets], reference, tolerance)}
    seconds: dict[str, list[float]] = {}
    for r in records:
        if (r["method"] in loss.columns and r["dataset"] in loss.index
                and r["fit_seconds"] is not None
                and (r["method"] not in BUDGETED or (
                    r["budget"] is not None and budget is not None
                    and float(r["budget"]) == float(budget)))):
            seconds.setdefault(r["method"], []).append(r["fit_seconds"])
    return {
        "budget": budget,
        "reference": reference,
        "methods": list(loss.columns),
        "datasets": list(loss.index),
        "mean_rank": {m: float(rank[m].mean()) for m in loss.columns} if len(loss) else {},
        "scores": {d: {m: (None if pd.isna(v) else float(v)) for m, v in row.items()}
                   for d, row in table.iterrows()},
        "wins_ties_losses": wtl,
        "by_fold": by_fold,
        "mean_fit_seconds": {m: float(np.mean(v)) for m, v in seconds.items()},
        "max_fit_seconds": {m: float(np.max(v)) for m, v in seconds.items()},
        # Fits that took more than OVERRUN x the budget: the comparison is only as fair as
        # each method's keeping to it.
        "over_budget": {m: int(np.sum(np.asarray(v) > OVERRUN * budget))
                        for m, v in seconds.items() if m in BUDGETED and budget is not None},
    }


def share_better(comparison: dict, other: str) -> float | None:
    """Share of the datasets where the reference beats ``other`` (ties do not count)."""
    counts = comparison["wins_ties_losses"].get(other)
    if not counts:
        return None
    total = counts["wins"] + counts["ties"] + counts["losses"]
    return counts["wins"] / total if total else None


def targets(per_budget: dict[str, dict], zero_shot: dict | None,
            unavailable: dict[str, str]) -> list[dict]:
    """The issue's targets, each with ``met`` True, False or None (not evaluated)."""
    out = []
    best, detail = [], []
    for budget, comp in per_budget.items():
        rank = comp["mean_rank"]
        if "automl_meta" not in rank:
            best.append(None)
            detail.append(f"{budget} s: automl_meta not ranked")
            continue
        top = min(rank.values())
        best.append(rank["automl_meta"] <= top)
        leader = min(rank, key=rank.get)
        detail.append(f"{budget} s: automl_meta {rank['automl_meta']:.2f}, best "
                      f"{leader} {top:.2f}")
    met = None if not best or None in best else all(best)
    out.append({"target": "best mean rank at every budget", "met": met,
                "detail": "; ".join(detail) or "no budget run"})
    shares, detail = [], []
    for budget, comp in per_budget.items():
        share = share_better(comp, "flaml")
        shares.append(share)
        if share is not None:
            counts = comp["wins_ties_losses"]["flaml"]
            detail.append(f"{budget} s: {share:.0%} ({counts['wins']} of "
                          f"{sum(counts.values())})")
    if "flaml" in unavailable:
        detail.append(f"flaml unavailable: {unavailable['flaml'].splitlines()[0]}")
    met = (None if not shares or None in shares
           else all(s >= FLAML_TARGET for s in shares))
    out.append({"target": f"better than FLAML on at least {FLAML_TARGET:.0%} of the datasets "
                          "at every budget", "met": met,
                "detail": "; ".join(detail) or "FLAML not run"})
    share = share_better(zero_shot, "lightgbm_default") if zero_shot else None
    detail = "zero-shot comparison not run"
    if share is not None:
        counts = zero_shot["wins_ties_losses"]["lightgbm_default"]
        detail = f"{share:.0%} ({counts['wins']} of {sum(counts.values())})"
    out.append({"target": f"zero-shot better than LightGBM defaults on at least "
                          f"{ZERO_SHOT_TARGET:.0%} of the datasets",
                "met": None if share is None else share >= ZERO_SHOT_TARGET,
                "detail": detail})
    return out


def summarise(records: Sequence[dict], methods: Sequence[str], budgets: Sequence[float],
              unavailable: dict[str, str] | None = None,
              tolerance: float = TIE_TOLERANCE, folds: dict[str, int] | None = None) -> dict:
    """Per-budget comparisons, the zero-shot comparison, failures and the targets;
    ``folds`` (dataset -> held-out fold) adds each comparison's figures by fold."""
    unavailable = {m: r for m, r in (unavailable or {}).items() if m in methods}
    runnable = [m for m in methods if m not in unavailable]
    per_budget = {}
    budgeted = [m for m in runnable if m in BUDGETED or m == "lightgbm_default"]
    if any(m in BUDGETED for m in budgeted):
        for budget in budgets:
            per_budget[_budget_label(budget)] = compare(records, budgeted, budget,
                                                        "automl_meta", tolerance, folds)
    zero_shot = None
    if "automl_meta_zero_shot" in runnable:
        zero_shot = compare(records, [m for m in ZERO_SHOT if m in runnable], None,
                            "automl_meta_zero_shot", tolerance, folds)
    failures = [{k: r[k] for k in ("dataset", "method", "budget", "seed")}
                | {"error": (r["error"] or "").splitlines()[0]}
                for r in records if r["status"] == "failed"]
    return {"tolerance": tolerance, "budgets": per_budget, "zero_shot": zero_shot,
            "unavailable": unavailable, "failures": failures,
            "targets": targets(per_budget, zero_shot, unavailable)}


def _budget_label(budget: float) -> str:
    return f"{float(budget):g}"


# ---------------------------------------------------------------------------------------
# Report


def markdown(summary: dict, meta: dict) -> str:
    """The Markdown report of :func:`summarise`'s result."""
    lines = [
        "# End-to-end benchmark",
        "",
        "Reproduce with:",
        "",
        "```",
        meta.get("command", ""),
        "```",
        "",
        *([meta["settings_text"], ""] if meta.get("settings_text") else []),
        "## Targets",
        "",
    ]
    for t in summary["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not evaluated"}[t["met"]]
        lines.append(f"- {t['target']}: **{verdict}** ({t['detail']})")
    lines.append("")
    if summary["unavailable"]:
        lines += ["## Methods not run", ""]
        for method, reason in summary["unavailable"].items():
            lines.append(f"- `{method}`: unavailable: {reason}")
        lines.append("")
    for budget, comp in summary["budgets"].items():
        lines += _comparison_section(f"Budget {budget} s", comp, summary["tolerance"])
    if summary["zero_shot"]:
        lines += _comparison_section("Zero-shot (one configuration, no search)",
                                     summary["zero_shot"], summary["tolerance"])
    if summary["failures"]:
        lines += ["## Failed runs", "", "| dataset | method | budget | seed | error |",
                  "|---|---|---:|---:|---|"]
        for f in summary["failures"]:
            error = f["error"].replace("|", "\\|")[:200]
            budget = "-" if f["budget"] is None else f"{f['budget']:g}"
            lines.append(f"| {f['dataset']} | {f['method']} | {budget} | {f['seed']} | "
                         f"{error} |")
        lines.append("")
    return "\n".join(lines)


def _comparison_section(title: str, comp: dict, tolerance: float) -> list[str]:
    methods, reference = comp["methods"], comp["reference"]
    n = len(comp["datasets"])
    lines = [f"## {title}", "",
             f"{n} dataset(s). Mean rank (1 = best; scores within a relative {tolerance:g} "
             "tie and share the rank; a failed run ranks last):", "",
             "| method | mean rank | mean fit s | max fit s | fits over budget |",
             "|---|---:|---:|---:|---:|"]
    order = sorted(methods, key=lambda m: comp["mean_rank"].get(m, math.inf))
    for m in order:
        cells = [comp["mean_rank"].get(m), comp["mean_fit_seconds"].get(m),
                 comp["max_fit_seconds"].get(m)]
        text = ["" if v is None else f"{v:.{2 if i == 0 else 1}f}" for i, v in enumerate(cells)]
        over = comp["over_budget"].get(m)
        lines.append(f"| {m} | " + " | ".join(text) + f" | {'' if over is None else over} |")
    lines.append("")
    if comp["budget"] is not None:
        lines += [f"A fit is over budget when it took more than {OVERRUN:g} x {comp['budget']:g}"
                  " s (budget-free methods have no budget).", ""]
    if comp["wins_ties_losses"]:
        lines += [f"`{reference}` against each other method (wins / ties / losses, share "
                  "won):", "", "| other | wins | ties | losses | share won |",
                  "|---|---:|---:|---:|---:|"]
        for other, c in comp["wins_ties_losses"].items():
            share = share_better(comp, other)
            lines.append(f"| {other} | {c['wins']} | {c['ties']} | {c['losses']} | "
                         f"{'' if share is None else f'{share:.0%}'} |")
        lines.append("")
    # Without the reference (a run of other methods only) there is nothing to show by fold.
    if comp.get("by_fold") and comp["wins_ties_losses"]:
        others = list(comp["wins_ties_losses"])
        lines += [f"By held-out fold (mean rank of `{reference}`; its wins / ties / losses):",
                  "", "| fold | datasets | mean rank | " + " | ".join(others) + " |",
                  "|---:|---:|---:|" + "---|" * len(others)]
        for fold, part in comp["by_fold"].items():
            cells = ["/".join(str(part["wins_ties_losses"][o][k])
                              for k in ("wins", "ties", "losses")) for o in others]
            lines.append(f"| {fold} | {part['datasets']} | "
                         f"{part['mean_rank'][reference]:.2f} | " + " | ".join(cells) + " |")
        lines.append("")
    if n:
        lines += ["Test score per dataset (ROC AUC for classification, higher is better; "
                  "RMSE for regression, lower is better; mean over seeds):", "",
                  "| dataset | " + " | ".join(methods) + " |",
                  "|---|" + "---:|" * len(methods)]
        for dataset, row in comp["scores"].items():
            cells = ["failed" if row.get(m) is None else f"{row[m]:.4g}" for m in methods]
            lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


# ---------------------------------------------------------------------------------------
# The protocol


def held_out_names(kb: KnowledgeBase, folds: int, fold: int, seed: int = 0) -> list[str]:
    """The names of the datasets of ``kb`` that fold ``fold`` of ``folds`` holds out."""
    from metalearner import group_folds

    names = sorted(kb.datasets["name"])
    return group_folds(kb.datasets, names, folds, seed=seed)[fold]


def held_out_setup(kb: KnowledgeBase, folds: int, fold: int, method: str,
                   steps: int | None, cache: Path, seed: int = 0) -> tuple[list[str], Path]:
    """The fold's test dataset names and a knowledge-base folder that knows only the
    other folds: their tables plus a meta-learner trained on them (``metalearner/``)."""
    from metalearner import learner_version, trained, training_names

    test = held_out_names(kb, folds, fold, seed)
    train = training_names(kb, test)
    if not train:
        raise SystemExit(f"fold {fold} leaves no training dataset with meta-features "
                         f"({len(test)} of {len(kb.datasets)} datasets held out)")
    learner = trained(kb, method, steps, train, cache / "metalearners", seed=seed)
    restricted = kb.subset(train)
    key = hashlib.sha256(json.dumps([folds, fold, method, steps, seed, train, kb.counts(),
                                     learner_version()]).encode()).hexdigest()[:16]
    folder = cache / f"knowledge-base-fold{fold}-{key}"
    restricted.save(folder, built_with=f"benchmarks/end_to_end.py fold {fold} of {folds}")
    learner.save(folder / "metalearner")
    return test, folder


def select_datasets(kb: KnowledgeBase, names: Sequence[str], manifest: pd.DataFrame,
                    max_datasets: int | None, pick: str, seed: int = 0,
                    only: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Test datasets found in the manifest (at most ``max_datasets``: the smallest by
    rows x features, or a seeded sample), of them those in ``only`` when given; also the
    skipped ones with the reason."""
    skipped = {n: "not in the corpus manifest" for n in names
               if n not in set(manifest["name"])}
    names = [n for n in names if n not in skipped]
    if max_datasets is not None and len(names) > max_datasets:
        if pick == "smallest":
            sizes = kb.datasets.set_index("name").loc[names]
            cells = (sizes["n_rows"].fillna(np.inf) * sizes["n_features"].fillna(1))
            names = sorted(cells.sort_values(kind="stable").index[:max_datasets])
        else:
            rng = np.random.default_rng(seed)
            names = sorted(rng.choice(names, size=max_datasets, replace=False).tolist())
    return sorted(n for n in names if only is None or n in only), skipped


def settings_text(args: argparse.Namespace, budgets: Sequence[float], test: Sequence[str],
                  names: Sequence[str], n_kb_datasets: int) -> str:
    """One paragraph on what was run, for the report."""
    folds = sorted(set(args.fold))
    picked = ""
    if args.max_datasets is not None and len(names) < len(test):
        picked = (f" (per fold at most {args.max_datasets}, "
                  + ("the smallest by rows x features)" if args.pick == "smallest"
                     else "a seeded sample)"))
    grouped = "(grouped so that near-duplicate datasets share a fold)"
    held = (f"Fold {folds[0] + 1} of {args.folds} {grouped} held out" if len(folds) == 1 else
            f"Folds {', '.join(str(f + 1) for f in folds)} of {args.folds} {grouped}, each "
            "held out in turn")
    return (f"{held}: "
            f"{len(test)} datasets, {len(names)} of them run{picked}; "
            f"the meta-learner ({args.metalearner}) and the knowledge base given to "
            f"automl_meta know only the other folds ({n_kb_datasets} datasets in all). "
            + (f"Budgets {', '.join(f'{b:g} s' for b in budgets)}; " if budgets
               else "No budgeted method run; ")
            + f"n_jobs {args.n_jobs}; "
            f"{args.seeds} seed(s); {TEST_SIZE:.0%} test split"
            + (f"; datasets subsampled to about {args.max_rows} rows" if args.max_rows else "")
            + ".")


def run_fold(args: argparse.Namespace, kb: KnowledgeBase, fold: int, steps: int | None,
             cache: Path, manifest: pd.DataFrame, budgets: Sequence[float],
             seeds: Sequence[int], unavailable: dict[str, str]) -> dict:
    """Run (or resume) every wanted run of one held-out fold, with a meta-learner and
    knowledge base that know only the other folds; its runs go to their own JSONL file.

    Returns the fold's held-out datasets (``test``), those run (``names``), the skipped
    ones with the reason, the current records of the wanted runs and the settings that
    key the runs file."""
    from metalearner import base_protocol, code_version

    test, kb_folder = held_out_setup(kb, args.folds, fold, args.metalearner, steps, cache)
    names, skipped = select_datasets(kb, test, manifest, args.max_datasets, args.pick,
                                     only=args.datasets)
    print(f"fold {fold + 1}/{args.folds}: {len(test)} held-out datasets, running "
          f"{len(names)}; fold knowledge base at {kb_folder}", flush=True)

    # The held-out split depends on the base protocol's datasets only, so the runs of
    # methods that ignore the knowledge base stay valid when extensions are added.
    settings = {"folds": args.folds, "fold": fold, "max_rows": args.max_rows,
                "n_jobs": args.n_jobs, "metalearner": args.metalearner,
                "steps": steps, "counts": base_protocol(kb).counts(), "test_size": TEST_SIZE}
    # cv is not in the key: it concerns two methods only, whose records carry it.
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    settings["cv"] = args.cv
    runs_path = cache / f"runs-{key}.jsonl"
    # Runs of the learned methods depend on the meta-learner's code, what it learns from and
    # the meta-features its recommendations start from.
    version = hashlib.sha256(json.dumps([code_version(), kb.counts(), features_version()])
                             .encode()).hexdigest()[:16]
    search, data = search_version(), data_version()
    previous = current(load_records(runs_path), version, args.cv, search, data)
    done = finished_keys(previous, args.retry_failed)
    wanted = {_key(*k) for n in names for k in run_keys(n, args.methods, budgets, seeds)}
    print(f"runs file {runs_path}: {len(wanted & done)} of {len(wanted)} runs already done",
          flush=True)
    by_name = manifest.set_index("name")
    counter = [len(wanted & done)]

    def on_record(record: dict) -> None:
        if record["method"] in LEARNED:
            record["code"] = version
        if record["method"] in ESTIMATED:
            record["search"] = search
        if record["method"] in VALIDATED:
            record.update(cv=args.cv, ensemble_size=ENSEMBLE_SIZE)
        record["data"] = data
        append_record(runs_path, record)
        counter[0] += 1
        budget = "-" if record["budget"] is None else f"{record['budget']:g} s"
        score = (f"{record['score']:.4f}" if record["status"] == "ok"
                 else record["status"] + ": " + (record["error"] or "").splitlines()[0][:120])
        seconds = record["fit_seconds"]
        print(f"[{counter[0]}/{len(wanted)}] {record['dataset']} {record['method']} {budget} "
              f"seed {record['seed']}: {score}"
              + ("" if seconds is None else f" ({seconds:.1f} s)"), flush=True)

    for name in names:
        keys = {_key(*k) for k in run_keys(name, args.methods, budgets, seeds)}
        if keys <= done:
            continue
        try:
            dataset = load_manifest_entry(by_name.loc[name].to_dict() | {"name": name})
            if args.max_rows:
                dataset = dataset.subsample(args.max_rows, seed=0)
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not end the run
            skipped[name] = f"cannot be loaded: {type(exc).__name__}: {exc}"
            print(f"{name}: skipped: {skipped[name]}", flush=True)
            continue
        run_dataset(dataset, args.methods, budgets, seeds, n_jobs=args.n_jobs,
                    knowledge_base=str(kb_folder), cv=args.cv, done=done,
                    unavailable=unavailable, on_record=on_record)

    records = [r for r in latest(current(load_records(runs_path), version, args.cv, search,
                                              data))
               if record_key(r) in wanted]
    return {"test": list(test), "names": names, "skipped": skipped, "records": records,
            "settings": settings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--knowledge-base", help="a knowledge-base folder (default: the "
                        "shipped one)")
    source.add_argument("--store", help="a builder's SQLite store instead (read only)")
    parser.add_argument("--metafeatures", help="Parquet of raw meta-features (dataset column "
                        "+ features), for a store whose meta-features are not in yet")
    parser.add_argument("--manifest", default=str(DEFAULT_MANIFEST),
                        help="the corpus manifest the test datasets are read through")
    parser.add_argument("--budgets", type=float, nargs="+", metavar="SECONDS",
                        help="wall-clock budgets (default 30 120; 10 30 with --quick)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="repetitions: seed s gives the train/test split and the methods' "
                        "seed (0..N-1)")
    parser.add_argument("--n-jobs", type=int, default=1, help="given to every method")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold", type=int, nargs="+", default=[0],
                        help="the held-out fold (0-based); several: each is held out in "
                        "turn, with its own meta-learner, and the report pools their datasets")
    parser.add_argument("--max-datasets", type=int, help="at most N test datasets per fold "
                        "(default all; 6 with --quick)")
    parser.add_argument("--pick", choices=("smallest", "sample"), default="smallest",
                        help="which datasets --max-datasets keeps: the smallest by rows x "
                        "features, or a seeded random sample")
    parser.add_argument("--max-rows", type=int, help="subsample larger datasets to about N "
                        "rows (stratified for classification, seed 0; default none, 2000 "
                        "with --quick)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="run only these of the datasets picked (to share a fold's runs "
                        "between processes); the report covers them alone")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        metavar="METHOD", help=f"a subset of {', '.join(METHODS)} (default "
                        "all)")
    parser.add_argument("--cv", type=cv_argument, default="auto",
                        help="validation of automl_meta and optuna_tpe trials: auto (their "
                        "default), a number of folds or a holdout share")
    parser.add_argument("--metalearner", default=DEFAULT_METHOD,
                        choices=tuple(QUICK_STEPS), help="meta-training method")
    parser.add_argument("--retry-failed", action="store_true",
                        help="rerun failed runs found in the cache")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: budgets 10 30, 6 datasets, 2000 rows, shorter "
                        "meta-training (each unless given)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-end-to-end-benchmark"),
                        help="meta-learners, fold knowledge bases and the runs' JSONL")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="end_to_end",
                        help="the results files' name: OUT/NAME.md and OUT/NAME.json")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK_DEFAULTS.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
    budgets = args.budgets or [30.0, 120.0]
    folds = sorted(set(args.fold))
    if not all(0 <= fold < args.folds for fold in folds):
        parser.error(f"--fold must be within 0..{args.folds - 1}")

    import optuna
    import torch

    if args.n_jobs >= 1:
        torch.set_num_threads(args.n_jobs)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    start = time.perf_counter()
    if args.store:
        from automl_meta.metadataset.store import Store

        kb = KnowledgeBase.from_store(Store(args.store))
    else:
        kb = KnowledgeBase.load(args.knowledge_base)
    if args.metafeatures:
        kb = dataclasses.replace(kb, metafeatures=pd.read_parquet(args.metafeatures))
    if kb.metafeatures.empty:
        raise SystemExit("the knowledge base has no meta-features: pass --metafeatures")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    steps = QUICK_STEPS[args.metalearner] if args.quick else None
    manifest = read_manifest(args.manifest)
    unavailable = {m: r for m, r in unavailable_methods().items() if m in args.methods}
    for method, reason in unavailable.items():
        print(f"{method}: unavailable: {reason}", flush=True)
    if args.datasets:  # checked before hours of runs, not after
        picked = {n for fold in folds for n in select_datasets(
            kb, held_out_names(kb, args.folds, fold), manifest, args.max_datasets,
            args.pick)[0]}
        if set(args.datasets) - picked:
            raise SystemExit("--datasets: not among the datasets picked in the folds run: "
                             + ", ".join(sorted(set(args.datasets) - picked)))
    seeds = list(range(args.seeds))
    test, names, skipped, records, settings = [], [], {}, [], {}
    fold_of = {}
    for fold in folds:
        ran = run_fold(args, kb, fold, steps, cache, manifest, budgets, seeds, unavailable)
        test += ran["test"]
        names += ran["names"]
        fold_of.update(dict.fromkeys(ran["names"], fold))
        skipped.update(ran["skipped"])
        records += ran["records"]
        settings = ran["settings"]
    settings["fold"] = folds if len(folds) > 1 else folds[0]
    summary = summarise(records, args.methods, budgets, unavailable, folds=fold_of)
    n_cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta = {
        "command": "python benchmarks/end_to_end.py" + (
            " " + shlex.join(sys.argv[1:] if argv is None else argv)).rstrip(),
        "settings_text": settings_text(
            args, budgets if set(args.methods) - set(BUDGET_FREE) else [], test, names,
            kb.counts()["datasets"])
        + f" Machine: {platform.machine()}, {n_cpus} CPUs, load average {load:.1f} at the "
        f"end; {time.perf_counter() - start:.0f} s for this invocation.",
    }
    result = {
        **meta,
        "settings": {**settings, "budgets": budgets, "seeds": seeds, "methods": args.methods,
                     "max_datasets": args.max_datasets, "pick": args.pick,
                     "quick": args.quick, "manifest": args.manifest,
                     "knowledge_base": args.knowledge_base or args.store or "shipped",
                     "tie_tolerance": TIE_TOLERANCE},
        "held_out_datasets": test,
        "run_datasets": names,
        "skipped_datasets": skipped,
        "summary": summary,
        "records": records,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    text = markdown(summary, meta)
    (out / f"{args.name}.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
