"""Metrics: one abstraction that knows each metric's direction and what it needs.

Scores are stored as the metric's natural value (an RMSE stays an RMSE);
:meth:`Metric.loss` turns any of them into "lower is better" in this one place.
:func:`make_metric` makes a metric of your own from a scikit-learn style function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import cloudpickle
import numpy as np
from sklearn import metrics as skm

from automl_meta.exceptions import DataValidationError, UnknownMetricError


@dataclass(frozen=True)
class Metric:
    """A scoring rule for one task type.

    ``needs_proba`` metrics receive a (n_samples, n_classes) probability matrix whose
    columns follow ``labels``; the others receive predictions. ``sample_weight`` weighs
    the rows (scikit-learn's meaning).
    """

    name: str
    task: str
    greater_is_better: bool
    needs_proba: bool
    func: Callable[..., float]

    def __call__(self, y_true, y_pred, labels=None, sample_weight=None) -> float:
        return float(self.func(y_true, y_pred, labels, sample_weight))

    def loss(self, value):
        """The value turned into a quantity to minimise (works on arrays too)."""
        return -np.asarray(value, dtype=float) if self.greater_is_better else np.asarray(
            value, dtype=float)

    @property
    def is_builtin(self) -> bool:
        """Whether it is one of automl_meta's metrics (not one of :func:`make_metric`'s)."""
        return METRICS.get(self.name) is self

    @property
    def weighs_rows(self) -> bool:
        """Whether it takes ``sample_weight`` (every built-in metric does)."""
        return getattr(self.func, "takes_weights", True)

    def __reduce__(self):
        # A built-in metric pickles as its name (its functions are lambdas); one of
        # make_metric's pickles its function by value.
        if self.is_builtin:
            return get_metric, (self.name, self.task)
        return Metric, (self.name, self.task, self.greater_is_better, self.needs_proba,
                        self.func)


def _roc_auc(y_true, proba, labels, sample_weight=None) -> float:
    """Binary AUC, or the macro one-vs-rest AUC over the classes present in ``y_true``.

    A fold of a many-class dataset often lacks some classes; averaging over the present
    ones keeps the score defined there (sklearn's multiclass AUC needs every class).
    With weights, a class is present where its rows weigh something.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    if not np.all(np.isfinite(proba)):
        raise ValueError("the predicted probabilities contain NaN or infinity")
    if len(labels) == 2:
        positive = y_true == labels[1]
        if positive.all() or not positive.any():
            raise ValueError("only one class present in y_true: ROC AUC is not defined")
        return _binary_auc(positive, proba[:, 1], sample_weight)
    weight = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight)
    aucs = [_binary_auc(y_true == label, proba[:, j], weight)
            for j, label in enumerate(labels)
            if 0 < weight[y_true == label].sum() < weight.sum()]
    return float(np.mean(aucs)) if aucs else float("nan")


def _binary_auc(positive: np.ndarray, score: np.ndarray, weight=None) -> float:
    """The area under the ROC curve, as ``sklearn.metrics.roc_auc_score`` gives it (tied
    scores count half), from one sort: the weight of the positives times the weight of
    the negatives scored below them. sklearn's own costs milliseconds a call even on a
    few hundred rows, which made the one-vs-rest AUC of a 10-class dataset cost more than
    fitting a linear model in a fold, and ensemble selection several seconds."""
    weight = np.ones(len(score)) if weight is None else np.asarray(weight, dtype=float)
    _, group = np.unique(score, return_inverse=True)
    pos = np.bincount(group, weights=weight * positive)
    neg = np.bincount(group, weights=weight * ~positive)
    total = pos.sum() * neg.sum()
    if total == 0:
        return float("nan")  # no weight on one side: sklearn warns and gives NaN too
    below = np.cumsum(neg) - neg
    return float(np.dot(pos, below + 0.5 * neg) / total)


def _log_loss(y_true, proba, labels, sample_weight=None) -> float:
    return skm.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=labels,
                        sample_weight=sample_weight)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("balanced_accuracy", "classification", True, False,
               lambda y, p, labels, w: skm.balanced_accuracy_score(y, p, sample_weight=w)),
        Metric("roc_auc", "classification", True, True, _roc_auc),
        Metric("log_loss", "classification", False, True, _log_loss),
        Metric("rmse", "regression", False, False,
               lambda y, p, labels, w: skm.root_mean_squared_error(y, p, sample_weight=w)),
        Metric("mae", "regression", False, False,
               lambda y, p, labels, w: skm.mean_absolute_error(y, p, sample_weight=w)),
        Metric("r2", "regression", True, False,
               lambda y, p, labels, w: skm.r2_score(y, p, sample_weight=w)),
    )
}

#: The metric used when none is named.
DEFAULT_METRIC = {"classification": "roc_auc", "regression": "rmse"}


class _UserFunction:
    """A scikit-learn style ``func(y_true, y_pred[, sample_weight=...])`` called as a
    :class:`Metric`'s function. It pickles by value (cloudpickle), so that a function
    written in a script or a notebook reaches the evaluation worker processes and loads
    with a saved model."""

    def __init__(self, func: Callable, needs_proba: bool):
        self.func, self.needs_proba = func, needs_proba
        try:
            parameters = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):  # no signature to read (some builtins): try
            self.takes_weights = True
        else:
            self.takes_weights = any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD
                                     for p in parameters)

    def __call__(self, y_true, y_pred, labels, sample_weight=None) -> float:
        if self.needs_proba and np.ndim(y_pred) == 2 and np.shape(y_pred)[1] == 2:
            y_pred = y_pred[:, 1]  # binary: the probability of the second (larger) label
        if sample_weight is None:
            return self.func(y_true, y_pred)
        if not self.takes_weights:
            raise TypeError(f"metric function {self.func!r} takes no sample_weight argument")
        return self.func(y_true, y_pred, sample_weight=sample_weight)

    def __repr__(self) -> str:
        return repr(self.func)

    def __reduce__(self):
        return _UserFunction._load, (cloudpickle.dumps(self.func), self.needs_proba)

    @staticmethod
    def _load(func: bytes, needs_proba: bool) -> _UserFunction:
        return _UserFunction(cloudpickle.loads(func), needs_proba)


def make_metric(name: str, func: Callable, task: str, *, greater_is_better: bool = True,
                needs_proba: bool = False) -> Metric:
    """A metric of your own, for ``AutoMetaClassifier(metric=...)``,
    ``AutoMetaRegressor(metric=...)`` and :func:`~automl_meta.evaluation.evaluate`.

    Parameters
    ----------
    name
        What the leaderboard, the study and ``fold_scores`` call it; not the name of a
        built-in metric.
    func
        ``func(y_true, y_pred) -> float`` in scikit-learn's manner (``f1_score``,
        ``average_precision_score``, your own), with a ``sample_weight`` keyword for
        weighted fits. It may be a lambda or a function of a script or notebook: it is
        pickled by value for the worker processes that run trials under a time budget.
    task
        ``"classification"`` or ``"regression"``.
    greater_is_better
        The direction: False for an error or a cost.
    needs_proba
        Classification only. True: ``y_pred`` is the probability of the second of the
        sorted labels for binary data, the (n_samples, n_classes) probability matrix
        (columns in sorted label order, as ``classes_``) otherwise; False: predicted
        labels.

    Example
    -------
    >>> from sklearn.metrics import fbeta_score
    >>> f2 = make_metric("f2", lambda y, p, **kw: fbeta_score(y, p, beta=2, pos_label="bad",
    ...                  **kw), "classification")
    >>> f2(["bad", "good", "bad"], ["bad", "bad", "bad"])
    0.9090909090909091
    """
    from automl_meta.data import TASKS

    if not isinstance(name, str) or not name:
        raise DataValidationError(f"a metric's name must be a non-empty string, got {name!r}")
    if name in METRICS:
        raise DataValidationError(f"{name!r} is a built-in metric; name yours otherwise")
    if not callable(func):
        raise DataValidationError(f"func must be callable, got {func!r}")
    if task not in TASKS:
        raise DataValidationError(f"task must be one of {list(TASKS)}, got {task!r}")
    if needs_proba and task != "classification":
        raise DataValidationError("needs_proba applies to classification metrics only")
    return Metric(name, task, bool(greater_is_better), bool(needs_proba),
                  _UserFunction(func, bool(needs_proba)))


def get_metric(name: str | Metric | None, task: str) -> Metric:
    """The metric called ``name`` (default for the task when None), checked against it;
    a :class:`Metric` (:func:`make_metric`) is checked and returned."""
    if isinstance(name, Metric):
        if name.task != task:
            raise UnknownMetricError(f"metric {name.name!r} is for {name.task}, not {task}")
        return name
    name = DEFAULT_METRIC[task] if name is None else name
    if not isinstance(name, str):
        raise UnknownMetricError(f"metric must be a metric's name or a Metric (make_metric), "
                                 f"got {name!r}")
    if name not in METRICS:
        raise UnknownMetricError(f"unknown metric {name!r}; known metrics: {sorted(METRICS)}")
    metric = METRICS[name]
    if metric.task != task:
        valid = sorted(n for n, m in METRICS.items() if m.task == task)
        raise UnknownMetricError(f"metric {name!r} is for {metric.task}; for {task} use {valid}")
    return metric


def task_metrics(task: str) -> list[Metric]:
    """Every metric of a task type, in a fixed order."""
    return [m for m in METRICS.values() if m.task == task]
