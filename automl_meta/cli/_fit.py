"""``automl-meta fit`` and ``automl-meta predict``: AutoML on a data file, and its model."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta.data import DEFAULT_TARGET_NAMES
from automl_meta.exceptions import DataSourceError, DataValidationError

#: Rows of the leaderboard printed after ``fit``.
TOP_ROWS = 10


def add_parsers(subparsers) -> None:
    """Register the ``fit`` and ``predict`` subcommands on the CLI's subparsers."""
    from automl_meta.cli import (
        METRIC_HELP,
        add_data_arguments,
        add_row_arguments,
        cv_argument,
        search_rows_argument,
    )

    fit = subparsers.add_parser(
        "fit", help="search model families on a data file and save the best model",
        description="Run an Optuna search over model families and their hyperparameters "
        "under a time budget, refit the best pipeline (or a greedy ensemble of the best) on "
        "all rows and save it with joblib. Ctrl-C stops the search early and goes on with "
        "the trials finished; a second Ctrl-C stops at once.")
    add_data_arguments(fit)
    fit.add_argument("--time", type=float, default=60.0, metavar="SECONDS",
                     help="wall-clock budget of the search (60)")
    fit.add_argument("--trials", type=int, metavar="N", help="stop after N trials")
    fit.add_argument("--metric", help=f"metric to optimise (default: roc_auc or rmse): "
                                      f"{METRIC_HELP}")
    fit.add_argument("--cv", type=cv_argument, default="auto",
                     help="folds per trial (an integer), a holdout share (a float in (0, 1)) "
                          "or auto: 5 folds, a 10%% holdout on data too large for the "
                          "budget, 3 folds on data too wide for it with too few rows to "
                          "hold out (auto)")
    fit.add_argument("--search-rows", type=search_rows_argument, default="auto", metavar="N",
                     help="rows the trials use, the models chosen being refit on all: auto "
                          "(a subsample on data too large to search within the budget), all, "
                          "or at most N (auto)")
    add_row_arguments(fit)
    fit.add_argument("--jobs", type=int, default=1, help="parallel trials (1)")
    fit.add_argument("--ensemble-size", type=int, default=10, metavar="N",
                     help="rounds of greedy ensemble selection over the best trials; 1: "
                          "refit the best trial alone (10)")
    fit.add_argument("--families", nargs="+", metavar="FAMILY",
                     help="model families to search (default: all)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--storage", metavar="URL",
                     help="Optuna storage shared by several processes, e.g. sqlite:///s.db")
    fit.add_argument("--study-name", help="study in --storage to create or resume")
    meta = fit.add_mutually_exclusive_group()
    meta.add_argument("--knowledge-base", metavar="DIR",
                      help="knowledge base (with metalearner/) to warm-start from "
                           "(default: the shipped one)")
    meta.add_argument("--no-meta", action="store_true",
                      help="no meta-learning: Optuna TPE from the families' defaults")
    fit.add_argument("--out", metavar="PATH",
                     help="model file to write (joblib; default: the model is not saved)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar or leaderboard")

    predict = subparsers.add_parser(
        "predict", help="predict a data file with a model saved by fit",
        description="Predict every row of a data file; the target column, when present, "
        "is dropped first, and the predictions of the rows where it holds a value are "
        "scored with fit's metric (unweighted). Columns are matched to fit's by name, in "
        "any order; columns fit did not see are left out, with a warning.")
    predict.add_argument("model", help="model file written by automl-meta fit")
    predict.add_argument("data", help="CSV/TSV (.gz), ARFF or Parquet file")
    predict.add_argument("--target", help="column to drop and score the predictions "
                         "against (default: as fit's, an ARFF file's last attribute or a "
                         f"column named {', '.join(DEFAULT_TARGET_NAMES)}, that is not a "
                         "feature)")
    predict.add_argument("--drop", nargs="+", default=[], metavar="COLUMN",
                         help="columns to leave out, such as fit's --groups or --weights column")
    predict.add_argument("--out", required=True, metavar="PATH", help="predictions CSV")
    predict.add_argument("--proba", action="store_true",
                         help="add one probability column per class (classification)")


def run_fit(args: argparse.Namespace) -> int:
    """Search, save the model and print the leaderboard; returns the exit code."""
    from automl_meta.cli import EXIT_FAILED, EXIT_OK, load_data, read_metric, take_column
    from automl_meta.estimators import AutoMetaClassifier, AutoMetaRegressor, SearchFailedError

    out = None if args.out is None else Path(args.out)
    if out is not None and not out.parent.is_dir():  # found now, not after the whole search
        raise DataValidationError(f"--out: no folder {out.parent}")
    metric = read_metric(args.metric)  # a file of the user's fails before the data loads
    dataset = load_data(args)
    dataset, groups = take_column(dataset, args.groups, "--groups", args.data)
    dataset, weights = take_column(dataset, args.weights, "--weights", args.data)
    cls = AutoMetaClassifier if dataset.task == "classification" else AutoMetaRegressor
    model = cls(time_budget=args.time, n_trials=args.trials, metric=metric, cv=args.cv,
                n_jobs=args.jobs, ensemble_size=args.ensemble_size, families=args.families,
                random_state=args.seed, search_rows=args.search_rows,
                storage=args.storage, study_name=args.study_name,
                knowledge_base=False if args.no_meta else args.knowledge_base)
    grouped = "" if groups is None else f", {len(pd.unique(groups))} groups"
    weighted = "" if weights is None else f", weighted by {args.weights}"
    print(f"{dataset.name}: {dataset.n_rows} rows x {dataset.n_features} features, "
          f"{dataset.task}{grouped}{weighted}")
    progress = _Progress(args.time, args.trials, disable=args.quiet)
    try:
        with warnings.catch_warnings():  # Ctrl-C: the estimator has printed what it does
            warnings.filterwarnings("ignore", "the search was interrupted", UserWarning)
            model.fit(dataset.X, dataset.y, sample_weight=weights, groups=groups,
                      callbacks=[progress])
    except SearchFailedError as exc:
        print(f"automl-meta fit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        progress.close()
    if out is not None:
        _dump_atomically(model, out)
    if not args.quiet:
        print(leaderboard_table(model.leaderboard_))
    validation = (f"{model.cv_}-fold CV" if isinstance(model.cv_, int)
                  else f"a {model.cv_:.0%} holdout")
    if groups is not None:
        validation = f"{validation} by {args.groups}"
    if model.search_rows_ < dataset.n_rows:
        validation = f"{validation}, on a subsample of {model.search_rows_} rows"
    metric = model.study_.user_attrs["metric"]
    print(f"best: {model.best_params_['family']} {metric} {model.best_score_:.4f} "
          f"({validation})")
    if len(model.ensemble_) > 1:
        members = ", ".join(f"{row.family} (trial {row.trial}) {row.weight:.2f}"
                            for row in model.ensemble_.itertuples())
        print(f"refit: an ensemble of {len(model.ensemble_)} pipelines, {metric} "
              f"{model.ensemble_score_:.4f} out of fold: {members}")
    notes = model.leaderboard_.set_index("trial")["error"]
    for row in model.ensemble_[~model.ensemble_["refit"]].itertuples():
        print(f"not refit: {row.family} (trial {row.trial}) could not have been refit on "
              f"all rows within the time budget; its fold models are averaged instead"
              + (f" ({notes[row.trial]})" if isinstance(notes[row.trial], str) else ""))
    print(f"wrote {out}" if out is not None else "not saved (pass --out PATH to keep it)")
    return EXIT_OK


class _Progress:
    """Optuna callback: a tqdm bar over the trials when they are counted, else over the
    time budget. The bar opens at the first trial, so that bad input prints no bar."""

    def __init__(self, seconds: float, trials: int | None, *, disable: bool):
        self.by_trials = trials is not None
        self.total = trials if self.by_trials else seconds
        self.disable = disable
        self.start = time.monotonic()
        self.bar = None
        self.lock = threading.Lock()  # parallel trials call back from several threads

    def __call__(self, study, trial) -> None:
        with self.lock:
            if self.bar is None:
                from automl_meta._progress import progress_bar

                self.bar = progress_bar(total=self.total, desc="search", disable=self.disable,
                                        unit="trial" if self.by_trials else "s",
                                        bar_format=None if self.by_trials else _TIME_BAR)
            finished = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
            self.bar.set_postfix(trials=finished, refresh=False)  # not those enqueued
            self.bar.update(1 if self.by_trials else self._elapsed() - self.bar.n)

    def _elapsed(self) -> float:
        return min(time.monotonic() - self.start, self.total)

    def close(self) -> None:
        if self.bar is not None:
            if not self.by_trials:  # a search that ran out of trials stops short of the budget
                self.bar.update(self._elapsed() - self.bar.n)
            self.bar.close()


_TIME_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}{postfix}]"


def leaderboard_table(leaderboard: pd.DataFrame, rows: int = TOP_ROWS) -> str:
    """The top rows of a leaderboard as text: rank, family, score, std, seconds, params."""
    top = leaderboard.head(rows)
    table = pd.DataFrame({
        "rank": top["rank"].astype(object).where(top["rank"].notna(), "-"),
        "family": top["family"],
        "score": top["score"].map(lambda v: f"{v:.4f}"),
        "std": top["std"].map(lambda v: f"{v:.4f}"),
        "fit s": top["fit_seconds"].map(lambda v: f"{v:.2f}"),
        "status": top["status"],
        "params": top["params"].map(_short_params),
    })
    return table.to_string(index=False)


def _short_params(params: dict, width: int = 70) -> str:
    text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())
    return text if len(text) <= width else text[: width - 3] + "..."


def _dump_atomically(model, path: Path) -> None:
    """Write the model next to ``path`` then rename: a crash never leaves half a file."""
    import joblib

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_predict(args: argparse.Namespace) -> int:
    """Write the predictions of a saved model for a data file; returns the exit code."""
    from automl_meta.cli import EXIT_OK
    from automl_meta.data import read_table
    from automl_meta.evaluation import get_metric

    model = _load_model(Path(args.model))
    path = Path(args.data)
    if not path.is_file():
        raise DataSourceError(f"no such file: {path}")
    if args.proba and not hasattr(model, "predict_proba"):
        raise DataValidationError("--proba needs a classification model")
    frame, default_target = read_table(path)
    absent = [c for c in args.drop if c not in frame.columns]
    if absent:
        raise DataValidationError(f"--drop: no column {absent[0]!r} in {path}")
    targets = _target_columns(frame, model, args.target, default_target)
    X = frame.drop(columns=[*targets, *args.drop])
    # A file's columns are matched to fit's by name, in any order, and columns fit did not
    # see are left out with a warning (the Python API keeps scikit-learn's checks, which
    # refuse both); missing columns are named by those checks.
    names = [str(c) for c in getattr(model, "feature_names_in_", ())]
    columns = [str(c) for c in X.columns]
    known = set(names)
    if known and known <= set(columns):
        extra = [c for c in columns if c not in known]
        if extra:
            shown = ", ".join(map(repr, extra[:10])) + (", ..." if len(extra) > 10 else "")
            warnings.warn(f"{path}: {len(extra)} column(s) not seen in fit, left out: {shown} "
                          "(--drop leaves them out without this warning)", UserWarning,
                          stacklevel=1)
        X = X.set_axis(columns, axis=1)[names]
    metric = get_metric(model.metric, model._task)
    try:  # warnings (unseen categories...) print once each: see cli.main
        predictions = pd.DataFrame({"prediction": model.predict(X)})
        proba = model.predict_proba(X) if args.proba or (
            targets and metric.needs_proba) else None
        if args.proba:
            for j, label in enumerate(model.classes_):
                predictions[f"proba_{label}"] = proba[:, j]
    except ValueError as exc:  # sklearn's column checks: one line for the CLI
        raise DataValidationError(f"{path}: {' '.join(str(exc).split())}") from exc
    predictions.to_csv(args.out, index=False)
    print(f"wrote {len(predictions)} predictions to {args.out}")
    if targets:
        print(_labelled_score(model, metric, frame[targets[0]], predictions["prediction"],
                              proba, path.name))
    return EXIT_OK


def _labelled_score(model, metric, y: pd.Series, predicted: pd.Series, proba, name: str
                    ) -> str:
    """A line giving ``metric`` on the rows where the target ``y`` holds a value, or why
    they could not be scored."""
    known = y.notna().to_numpy()
    n = int(known.sum())
    where = (f"{n} rows of {name} (those where {y.name!r} holds a value)" if n < len(y)
             else f"the {n} rows of {name}")
    if n == 0:
        return f"not scored: the target column {y.name!r} holds no value"
    truth = y[known]
    if hasattr(model, "classes_"):
        unseen = truth[pd.Index(model.classes_).get_indexer(truth) < 0]
        if len(unseen):
            shown = ", ".join(map(repr, unseen.unique()[:5].tolist()))
            return (f"not scored: {y.name!r} holds classes fit did not see: {shown} "
                    f"({len(unseen)} of {n} rows)")
        truth = model.classes_[pd.Index(model.classes_).get_indexer(truth)]
    else:
        truth = pd.to_numeric(truth, errors="coerce")
        if truth.isna().any():
            return f"not scored: {y.name!r} holds values that are not numbers"
        truth = truth.to_numpy(dtype="float64")
    given = proba[known] if metric.needs_proba else predicted.to_numpy()[known]
    try:
        value = metric(truth, given, labels=getattr(model, "classes_", None))
    except ValueError as exc:  # a metric undefined on these rows (one class only...)
        return f"not scored: {metric.name} on {where}: {exc}"
    return f"{metric.name} on {where}: {value:.4f}"


def _load_model(path: Path):
    import joblib

    from automl_meta.estimators import AutoMetaClassifier, AutoMetaRegressor

    if not path.is_file():
        raise DataSourceError(f"no such model file: {path}")
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - unpickling raises many types
        raise DataSourceError(f"{path}: not a readable model file: {exc}") from exc
    if not isinstance(model, (AutoMetaClassifier, AutoMetaRegressor)):
        raise DataValidationError(f"{path}: not a model written by automl-meta fit")
    return model


def _target_columns(frame: pd.DataFrame, model, target: str | None,
                    default_target: str | None) -> list:
    """The columns predict drops as targets, the one to score against first: ``target``,
    else those that fit takes as the target when none is named (the format's own, an
    ARFF file's last attribute, then the usual names) that are not features."""
    if target is not None:
        return [c for c in frame.columns if c == target]
    features = set(np.asarray(getattr(model, "feature_names_in_", []), dtype=str))
    columns = set(frame.columns)
    candidates = dict.fromkeys([*([default_target] if default_target else []),
                                *DEFAULT_TARGET_NAMES])
    return [c for c in candidates if c in columns and c not in features]


__all__ = ["add_parsers", "leaderboard_table", "run_fit", "run_predict"]
