"""Evaluation of one configuration on one dataset by cross-validation.

:func:`evaluate` never raises because a model failed: the result's ``status`` says
``ok``, ``failed`` (with the error text), ``timeout`` or ``memory``.

Example
-------
>>> from sklearn.datasets import load_iris
>>> from automl_meta.data import make_dataset
>>> from automl_meta.evaluation import evaluate
>>> X, y = load_iris(return_X_y=True, as_frame=True)
>>> result = evaluate("knn", {"n_neighbors": 5, "weights": "uniform", "p": 2},
...                   make_dataset(X, y), cv=3)
>>> result.status, round(result.score(), 3)  # doctest: +SKIP
('ok', 0.996)
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    BaseCrossValidator,
    BaseShuffleSplit,
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
)

from automl_meta.data import Dataset
from automl_meta.evaluation._isolate import prestart as prestart_worker
from automl_meta.evaluation._isolate import return_by, run_limited
from automl_meta.evaluation.metrics import (
    DEFAULT_METRIC,
    METRICS,
    Metric,
    get_metric,
    make_metric,
    task_metrics,
)
from automl_meta.exceptions import DataValidationError
from automl_meta.spaces import build_pipeline, fit_pipeline, get_family, validate_params

STATUSES = ("ok", "failed", "timeout", "memory")


@dataclass
class EvaluationResult:
    """Outcome of a cross-validated evaluation.

    ``fold_scores`` maps every metric of the task to its per-fold values (the primary
    ``metric`` among them; empty unless ok, or the folds done of a CV stopped with
    ``partial``); fit and predict seconds are per fold.
    """

    family: str
    params: dict
    metric: str
    status: str
    fold_scores: dict[str, list[float]] = field(default_factory=dict)
    fit_seconds: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)
    n_rows: int = 0
    error: str | None = None
    #: Seconds the whole CV was projected to take when ``projected_limit`` stopped it
    #: after its first folds (status ``timeout``; stopped during a fold, the limit, a
    #: lower bound); None otherwise.
    projected_seconds: float | None = None
    #: Out-of-fold predictions (``return_predictions=True``): class probabilities with
    #: one column per sorted label, or regression predictions, one row per dataset row.
    oof: np.ndarray | None = field(default=None, repr=False)
    #: The fitted pipeline of each fold, in the order of the folds (``return_models``;
    #: of the folds done when ``partial`` keeps them).
    models: list | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def score(self, metric: str | None = None) -> float:
        """Mean over folds of ``metric`` (the primary metric by default); NaN unless ok."""
        values = self.fold_scores.get(metric or self.metric)
        return float(np.mean(values)) if self.ok and values else float("nan")

    def to_dict(self) -> dict:
        """The result as JSON-ready data (without ``oof`` and ``models``)."""
        out = asdict(self)
        out.pop("oof")
        out.pop("models")
        return out


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


#: What ``cv`` may be: folds, a holdout share, a scikit-learn splitter, or the splits.
CV = int | float | BaseCrossValidator | BaseShuffleSplit | Iterable


def is_given_splits(cv) -> bool:
    """Whether ``cv`` is a scikit-learn splitter or an iterable that may hold (train,
    validation) splits (:func:`make_folds` checks them), rather than a number."""
    return is_splitter(cv) or (isinstance(cv, Iterable)
                               and not isinstance(cv, (str, bytes, Mapping)))


def is_splitter(cv) -> bool:
    """Whether ``cv`` is a scikit-learn splitter (it has ``split`` and ``get_n_splits``)."""
    return hasattr(cv, "split") and hasattr(cv, "get_n_splits")


def make_folds(dataset: Dataset, cv: CV, seed: int,
               groups: Sequence | np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fixed-seed splits of ``dataset``, stratified for classification (a class with
    fewer rows than folds is in as many folds as it has rows).

    ``cv`` is either a number of folds (an integer >= 2) or a float in (0, 1): one holdout
    split that validates on that share of the rows (FLAML's and AutoGluon's choice on
    large data, where K fits per configuration are too dear). With ``groups`` (one label
    per row), rows of a group stay on one side of every split: group folds, or a holdout
    of that share of the groups (for classification, about that share: one of
    ``round(1 / share)`` group folds), both stratified for classification.

    ``cv`` may also be a scikit-learn splitter (``KFold``, ``GroupKFold``,
    ``TimeSeriesSplit``...: its ``split(X, y, groups)`` is called) or the splits
    themselves, an iterable of (train, validation) row positions; these are checked and
    used as they are, and ``seed`` does not apply.
    """
    if groups is not None:
        groups = checked_groups(groups, dataset.n_rows)
    if _is_number(cv) and not isinstance(cv, numbers.Integral):
        if 0 < cv < 1:
            return [_holdout(dataset, cv, seed, groups)]
    elif is_splitter(cv):
        try:
            splits = list(cv.split(dataset.X, dataset.y, groups))
        except ValueError as exc:  # e.g. "The 'groups' parameter should not be None."
            raise DataValidationError(f"cv={cv!r} cannot split the data: {exc}") from exc
        return _checked_splits(splits, dataset.n_rows, f"cv={cv!r}")
    elif is_given_splits(cv):
        return _checked_splits(list(cv), dataset.n_rows, "cv")
    if not isinstance(cv, numbers.Integral) or isinstance(cv, bool) or cv < 2:
        raise DataValidationError(f"cv must be an integer >= 2 (folds), a float in (0, 1) "
                                  f"(holdout share), a scikit-learn splitter or an iterable "
                                  f"of (train, validation) splits, got {cv!r}")
    cv = int(cv)
    if cv > dataset.n_rows:
        raise DataValidationError(f"cv={cv} folds need at least {cv} rows, got {dataset.n_rows}")
    index = np.zeros(dataset.n_rows)
    if groups is not None:
        n_groups = len(np.unique(groups))
        if cv > n_groups:
            raise DataValidationError(f"cv={cv} group folds need at least {cv} groups, got "
                                      f"{n_groups}")
        splitter = (StratifiedGroupKFold if dataset.task == "classification"
                    else GroupKFold)(cv, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class",
                                    category=UserWarning)
            return list(splitter.split(index, dataset.y, groups))
    if dataset.task == "classification" and int(dataset.y.value_counts().max()) >= cv:
        # A class with fewer rows than folds cannot be in every fold, but stratifying the
        # others still keeps each fold as mixed as the data allows: with plain KFold a
        # fold of a very unbalanced dataset can hold a single class, where ROC AUC is
        # undefined.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class",
                                    category=UserWarning)
            splitter = StratifiedKFold(cv, shuffle=True, random_state=seed)
            return list(splitter.split(index, dataset.y))
    return list(KFold(cv, shuffle=True, random_state=seed).split(index))


def checked_groups(groups, n_rows: int) -> np.ndarray:
    """The group labels as integer codes (labels of mixed types do not sort), checked."""
    groups = np.asarray(groups, dtype=object)
    if groups.ndim != 1 or len(groups) != n_rows:
        raise DataValidationError(f"groups must be one label per row: {n_rows} labels, "
                                  f"got shape {groups.shape}")
    codes, _ = pd.factorize(groups)  # missing labels get -1
    n_missing = int((codes < 0).sum())
    if n_missing:
        raise DataValidationError(f"groups has {n_missing} missing labels")
    return codes


def check_sample_weight(sample_weight, n_rows: int) -> np.ndarray:
    """``sample_weight`` as one float weight per row, checked: numbers, finite, none
    negative, not all zero. The array given is never modified."""
    try:
        weights = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError("sample_weight must hold numbers") from None
    if weights.ndim != 1 or len(weights) != n_rows:
        raise DataValidationError(f"sample_weight must be one weight per row: {n_rows} "
                                  f"weights, got shape {weights.shape}")
    bad = int((~np.isfinite(weights)).sum())
    if bad:
        raise DataValidationError(f"sample_weight has {bad} missing or infinite weights")
    negative = int((weights < 0).sum())
    if negative:
        raise DataValidationError(f"sample_weight has {negative} negative weights")
    if not weights.any():
        raise DataValidationError("sample_weight is all zero: no row would count")
    return weights


def check_metric_weighs_rows(metric: Metric) -> None:
    """Raise :class:`DataValidationError` when ``metric`` cannot weigh rows."""
    if not metric.weighs_rows:
        raise DataValidationError(f"metric {metric.name!r} takes no sample_weight argument, "
                                  "so it cannot score a weighted fit")


def check_split_weights(folds: list[tuple[np.ndarray, np.ndarray]], weights: np.ndarray,
                        families: Sequence[str] = ()) -> None:
    """Raise :class:`DataValidationError` when a split trains or validates only on rows
    of weight 0, or one of ``families`` cannot weigh its training rows."""
    unweighted = [f for f in families if not get_family(f).weighs_rows]
    if unweighted:
        raise DataValidationError(f"{', '.join(unweighted)} cannot weigh its training rows, "
                                  "so it cannot be used with sample_weight")
    for k, (train, test) in enumerate(folds):
        for name, part in (("training", train), ("validation", test)):
            if not weights[part].any():
                raise DataValidationError(f"split {k}: every {name} row has weight 0")


def _checked_splits(splits: list, n_rows: int, what: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``splits`` as (train, validation) arrays of row positions, or a clear error."""
    if not splits:
        raise DataValidationError(f"{what} gave no split")
    out = []
    for k, split in enumerate(splits):
        try:
            train, test = (np.asarray(part) for part in split)
        except (TypeError, ValueError):
            raise DataValidationError(f"{what}: split {k} is not a (train, validation) "
                                      "pair of row positions") from None
        for name, part in (("train", train), ("validation", test)):
            if part.ndim != 1 or len(part) == 0 or not np.issubdtype(part.dtype, np.integer):
                raise DataValidationError(f"{what}: split {k} has no {name} rows or gives "
                                          "them otherwise than as integer positions")
            if part.min() < 0 or part.max() >= n_rows:
                raise DataValidationError(f"{what}: split {k} has {name} positions outside "
                                          f"0..{n_rows - 1}")
        # No copy when they are already positions (the estimators' splits, every trial).
        out.append((train.astype(np.intp, copy=False), test.astype(np.intp, copy=False)))
    return out


def _holdout(dataset: Dataset, share: float, seed: int,
             groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    n_test = int(round(share * dataset.n_rows))
    if not 1 <= n_test < dataset.n_rows:
        raise DataValidationError(f"a holdout of cv={share} of {dataset.n_rows} rows leaves "
                                  "no rows to train or none to validate on; pass more rows "
                                  "or an integer cv")
    index = np.zeros(dataset.n_rows)
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise DataValidationError("a holdout of groups needs at least 2 groups")
        if dataset.task == "classification":
            # Stratified: the first of about 1 / share group folds (10 for a 10% holdout),
            # so that the validation groups hold every class the data allows.
            n_folds = min(max(2, round(1 / share)), n_groups)
            splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The least populated class",
                                        category=UserWarning)
                return next(splitter.split(index, dataset.y, groups))
        return next(GroupShuffleSplit(1, test_size=share, random_state=seed).split(
            index, groups=groups))
    if dataset.task == "classification":
        counts = dataset.y.value_counts()
        if counts.min() >= 2 and n_test >= len(counts) and dataset.n_rows - n_test >= len(counts):
            splitter = StratifiedShuffleSplit(1, test_size=n_test, random_state=seed)
            return next(splitter.split(index, dataset.y))
    return next(ShuffleSplit(1, test_size=n_test, random_state=seed).split(index))


def trained_sizes(folds: list[tuple[np.ndarray, np.ndarray]], n_rows: int) -> float:
    """The rows the fits of ``folds`` train on, in sizes of ``n_rows``: cv - 1 for cv folds,
    1 - share for a holdout. A refit on all the rows takes about the folds' summed fit
    seconds over this."""
    return sum(len(train) for train, _ in folds) / n_rows


#: Under ``return_models=seconds``, a fold's fitted pipeline is kept only while the CV's
#: end plus the refit, projected from the folds done, is past this share of those
#: seconds: a trial far from needing its fold models holds one at a time.
KEEP_MODELS_SHARE = 0.5


def aligned_proba(model, X, labels: np.ndarray) -> np.ndarray:
    """``predict_proba`` with one column per label of ``labels`` (0 for unseen classes)."""
    proba = model.predict_proba(X)
    out = np.zeros((len(X), len(labels)))
    columns = np.searchsorted(labels, model.classes_)
    out[:, columns] = proba
    return out


def _cross_validate(family, params, dataset, metric: Metric, folds, seed,
                    keep_predictions: bool = False, sample_weight=None,
                    projected_limit: float | None = None,
                    return_models: bool | float = False, partial: bool = False) -> dict:
    metrics = task_metrics(dataset.task)
    if metric.name not in METRICS:  # one of make_metric's
        metrics.append(metric)
    labels = np.sort(dataset.y.unique()) if dataset.task == "classification" else None
    scores: dict[str, list[float]] = {m.name: [] for m in metrics}
    fit_seconds, predict_seconds = [], []
    models = []
    oof = None
    if keep_predictions:
        oof = np.full((dataset.n_rows, len(labels)) if labels is not None else dataset.n_rows,
                      np.nan)
    schema = dataset.schema
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for done, (train, test) in enumerate(folds, start=1):
            if projected_limit is not None:
                # Still running at this point, the fold will end with the CV projected
                # past the limit, and stopped: in a worker, it is stopped there.
                at = projected_limit * done / len(folds)
                return_by(None if done == len(folds) else at - (time.perf_counter() - began),
                          {"stopped": (done - 1, at, projected_limit, True),
                           "fit_seconds": list(fit_seconds),
                           "predict_seconds": list(predict_seconds)})
            model = build_pipeline(family, params, schema, dataset.task, seed=seed)
            start = time.perf_counter()
            fit_pipeline(model, dataset.X.iloc[train], dataset.y.iloc[train],
                         None if sample_weight is None else sample_weight[train])
            fit_seconds.append(time.perf_counter() - start)
            if return_models is True:
                models.append(model)
            elif return_models is not False:
                # Projected from the folds done, the CV's end and the refit's.
                end = ((time.perf_counter() - began) * len(folds) / done
                       + sum(fit_seconds) / trained_sizes(folds[:done], dataset.n_rows))
                if end > KEEP_MODELS_SHARE * return_models:
                    models.append(model)
                else:  # far from needing them: the trial will be refit
                    return_models, models = False, []
            y_test = dataset.y.iloc[test].to_numpy()
            weight = None if sample_weight is None else sample_weight[test]
            start = time.perf_counter()
            # Preprocessed once for both predict and predict_proba: on many categorical
            # columns the transform costs as much as the model's predictions.
            X_test, estimator = model[:-1].transform(dataset.X.iloc[test]), model[-1]
            predictions = estimator.predict(X_test)
            proba = aligned_proba(estimator, X_test, labels) if labels is not None else None
            predict_seconds.append(time.perf_counter() - start)
            if oof is not None:
                oof[test] = proba if labels is not None else predictions
            for m in metrics:
                try:
                    value = m(y_test, proba if m.needs_proba else predictions, labels, weight)
                except ValueError:  # e.g. ROC AUC on a fold holding a single class
                    value = float("nan")
                scores[m.name].append(value)
            elapsed = time.perf_counter() - began
            projected = elapsed * len(folds) / done
            if projected_limit is not None and done < len(folds) and projected > projected_limit:
                stopped = {"stopped": (done, elapsed, projected, False),
                           "fit_seconds": fit_seconds, "predict_seconds": predict_seconds}
                if partial:
                    stopped.update(fold_scores=scores,
                                   models=models if return_models is not False else None)
                return stopped
    if not np.all(np.isfinite(scores[metric.name])):
        raise ValueError(f"{metric.name} is not finite on some fold: {scores[metric.name]}")
    if not isinstance(return_models, bool):
        refit = sum(fit_seconds) / trained_sizes(folds, dataset.n_rows)
        return_models = time.perf_counter() - began + refit > return_models
    return {"fold_scores": scores, "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds, "oof": oof,
            "models": models if return_models else None}


def evaluate(
    family: str,
    params: Mapping,
    dataset: Dataset,
    metric: str | Metric | None = None,
    cv: CV = 5,
    *,
    seed: int = 0,
    time_limit: float | None = None,
    projected_limit: float | None = None,
    memory_limit_mb: int | None = None,
    max_rows: int | None = None,
    return_predictions: bool = False,
    return_models: bool | float = False,
    partial: bool = False,
    groups: Sequence | np.ndarray | None = None,
    sample_weight: Sequence | np.ndarray | None = None,
) -> EvaluationResult:
    """Cross-validate one configuration of ``family`` on ``dataset``.

    Parameters
    ----------
    family, params
        A model family and a point of its space (checked; bad ones raise
        :class:`~automl_meta.exceptions.InvalidParamsError`).
    dataset
        A :class:`~automl_meta.data.Dataset`.
    metric
        Primary metric: a name (see :data:`METRICS`) or a metric of your own
        (:func:`~automl_meta.evaluation.metrics.make_metric`); every built-in metric of
        the task is recorded too.
    cv
        Number of folds (stratified for classification), shuffled with ``seed``; or a
        float in (0, 1): one holdout split validating on that share of the rows; or a
        scikit-learn splitter, or the splits themselves (see :func:`make_folds`).
    time_limit, memory_limit_mb
        When given, the evaluation runs in a child process that is killed after
        ``time_limit`` seconds for the whole CV, and may allocate ``memory_limit_mb``.
    projected_limit
        When given, the CV stops after a fold (not the last) once the folds done project
        it past this many seconds (their time so far times the number of folds over the
        folds done): the result's status is then ``timeout``, with the projection in
        ``projected_seconds`` and the finished folds' times. A slow configuration costs
        a fold, not the whole CV. With ``time_limit`` or ``memory_limit_mb`` (in a child
        process) such a fold is stopped once it has run long enough for that (the time
        so far, were the fold to end then, projecting the CV past the limit), and as
        long again as the child process took to start (what stopping it costs), with
        ``projected_seconds`` the limit, a lower bound.
    max_rows
        Subsample larger datasets to this many rows (fixed seed) first.
    return_predictions
        Keep the out-of-fold predictions in the result's ``oof`` (for ensembling).
    return_models
        True: keep each fold's fitted pipeline in the result's ``models``. A number of
        seconds: only when a refit on all the rows, estimated from the folds' fits (their
        seconds times the rows over the rows they trained on), would end later than
        that long after the CV began: what a caller with that much time left can
        deliver instead of a refit (their averaged predictions). A fold's pipeline is held
        only while the folds done project that end past half those seconds
        (:data:`KEEP_MODELS_SHARE`); once one is let go, none is returned.
    partial
        When ``projected_limit`` stops the CV after a fold, keep what the folds done give:
        the result (status ``timeout``) then has their ``fold_scores``, and their
        ``models`` under ``return_models``. A CV stopped during a fold keeps nothing.
    groups
        One label per row: the rows of a group stay on one side of every split (see
        :func:`make_folds`).
    sample_weight
        One weight per row (not negative): the model trains on the weighted rows of each
        split and every metric weighs its validation rows (scikit-learn's meaning). The
        preprocessing is fit unweighted; ``knn`` cannot weigh rows and is refused.
    """
    if not isinstance(dataset, Dataset):
        raise DataValidationError(
            f"dataset must be a Dataset (from load_dataset or make_dataset), got "
            f"{type(dataset).__name__}")
    metric_obj = get_metric(metric, dataset.task)
    params = validate_params(family, dataset.task, params)
    for name, value in (("time_limit", time_limit), ("projected_limit", projected_limit),
                        ("memory_limit_mb", memory_limit_mb)):
        if value is not None and not (_is_number(value) and value > 0):
            raise DataValidationError(f"{name} must be positive, got {value!r}")
    if not (isinstance(return_models, bool) or _is_number(return_models)):
        raise DataValidationError(f"return_models must be True, False or a number of "
                                  f"seconds, got {return_models!r}")
    if max_rows is not None:
        if not (_is_number(max_rows) and isinstance(max_rows, numbers.Integral) and max_rows >= 1):
            raise DataValidationError(f"max_rows must be a positive integer, got {max_rows!r}")
        if (not (_is_number(cv) or isinstance(cv, str)) or groups is not None
                or sample_weight is not None):
            raise DataValidationError("max_rows subsamples the rows, so cv must be a number "
                                      "of folds or a holdout share, without given splits, "
                                      "groups or sample_weight")
        dataset = dataset.subsample(max_rows, seed=seed)
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, dataset.n_rows)
        check_metric_weighs_rows(metric_obj)
    folds = make_folds(dataset, cv, seed, groups)
    if sample_weight is not None:
        check_split_weights(folds, sample_weight, [family])
    result = EvaluationResult(family, dict(params), metric_obj.name, "ok", n_rows=dataset.n_rows)
    args = (family, params, dataset, metric_obj, folds, seed, return_predictions,
            sample_weight, projected_limit, return_models, partial)
    if time_limit is None and memory_limit_mb is None:
        try:
            values = _cross_validate(*args)
        except MemoryError as exc:
            result.status, result.error = "memory", f"MemoryError: {exc}"[-2000:]
            return result
        except Exception as exc:  # noqa: BLE001 - a failing model is a result, not a crash
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"[-2000:]
            return result
    else:
        outcome = run_limited(_cross_validate, *args, time_limit=time_limit,
                              memory_limit_mb=memory_limit_mb)
        if outcome.status != "ok":
            result.status, result.error = outcome.status, outcome.error
            return result
        values = outcome.value
    if "stopped" in values:
        done, elapsed, projected, during = values["stopped"]
        result.status, result.projected_seconds = "timeout", float(projected)
        result.error = (
            f"stopped during fold {done + 1} of {len(folds)}: at {elapsed:.1f} s it projected "
            f"the whole CV past the {projected_limit:g} s allowed" if during else
            f"stopped after {done} of {len(folds)} folds ({elapsed:.1f} s): the whole CV "
            f"would take about {projected:.1f} s, over the {projected_limit:g} s allowed")
        result.fit_seconds = values["fit_seconds"]
        result.predict_seconds = values["predict_seconds"]
        result.fold_scores = values.get("fold_scores", {})
        result.models = values.get("models")
        return result
    result.fold_scores = values["fold_scores"]
    result.fit_seconds = values["fit_seconds"]
    result.predict_seconds = values["predict_seconds"]
    result.oof = values["oof"]
    result.models = values["models"]
    return result


__all__ = [
    "CV",
    "DEFAULT_METRIC",
    "KEEP_MODELS_SHARE",
    "METRICS",
    "STATUSES",
    "EvaluationResult",
    "Metric",
    "aligned_proba",
    "check_metric_weighs_rows",
    "check_sample_weight",
    "check_split_weights",
    "checked_groups",
    "evaluate",
    "prestart_worker",
    "get_metric",
    "make_metric",
    "is_given_splits",
    "is_splitter",
    "make_folds",
    "task_metrics",
    "trained_sizes",
]
